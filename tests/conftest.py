"""Shared fixtures: a private Redis and real breaking-push nodes on both brokers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import RedisProcess, ServiceProcess, redis_process, service_process


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisProcess]:
    """A private redis-server shared by the session (tests that restart Redis start their own)."""
    with redis_process() as server:
        yield server


@pytest.fixture(scope="session")
def memory_node() -> Iterator[ServiceProcess]:
    """A node on the embedded memory broker."""
    with service_process() as node:
        yield node


@pytest.fixture(scope="session")
def redis_node(redis: RedisProcess) -> Iterator[ServiceProcess]:
    """A node on the private Redis."""
    with service_process(redis.url) as node:
        yield node


@pytest.fixture(params=["memory", "redis"])
def node(request: pytest.FixtureRequest) -> ServiceProcess:
    """The behaviour suite runs once per broker, so both stay equivalent."""
    fixture: ServiceProcess = request.getfixturevalue(f"{request.param}_node")
    return fixture
