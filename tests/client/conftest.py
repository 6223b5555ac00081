"""The client tests' own nodes: their publishing never meets another suite's rate limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import RedisProcess, ServiceProcess, service_process

# Generous: these tests publish dozens of alerts a minute with one token.
CLIENT_NODE_ENV = {
    "BREAKING_PUBLISH_RATE_PER_MINUTE": "100000",
    "BREAKING_KEY_PREFIX": "client-tests",
}


@pytest.fixture(scope="package")
def client_memory_node() -> Iterator[ServiceProcess]:
    with service_process(env=CLIENT_NODE_ENV) as node:
        yield node


@pytest.fixture(scope="package")
def client_redis_node(redis: RedisProcess) -> Iterator[ServiceProcess]:
    with service_process(redis.url, env=CLIENT_NODE_ENV) as node:
        yield node


@pytest.fixture(params=["memory", "redis"])
def client_node(request: pytest.FixtureRequest) -> ServiceProcess:
    """The client's behaviour holds on both brokers."""
    node: ServiceProcess = request.getfixturevalue(f"client_{request.param}_node")
    return node
