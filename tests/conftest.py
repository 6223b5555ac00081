"""Shared fixtures: a private Redis and real breaking-push nodes on both brokers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import ClusterProcesses, cluster_processes
from tests.support.processes import RedisProcess, ServiceProcess, redis_process, service_process
from tests.support.sentinel import SentinelSet, sentinel_set


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API runs its own event loop in this thread,
    which would leave the session loop of every async test after it unusable."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisProcess]:
    """A private redis-server shared by the session (tests that restart Redis start their own)."""
    with redis_process() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterProcesses]:
    """A private Redis Cluster of three primaries shared by the session (tests that fail a
    node over start their own)."""
    with cluster_processes() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSet]:
    """A private primary with two replicas and three Sentinels, shared by the session (tests
    that fail the primary over start their own)."""
    with sentinel_set() as deployment:
        yield deployment


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


@pytest.fixture(scope="session")
def cluster_node(redis_cluster: ClusterProcesses) -> Iterator[ServiceProcess]:
    """A node on the private Redis Cluster."""
    with service_process(redis_cluster.url, env={"BREAKING_REDIS_CLUSTER": "true"}) as node:
        yield node


@pytest.fixture(params=["memory", "redis", "cluster"])
def node(request: pytest.FixtureRequest) -> ServiceProcess:
    """The behaviour suite runs once per broker (and on a Redis Cluster), so all stay equivalent."""
    fixture: ServiceProcess = request.getfixturevalue(f"{request.param}_node")
    return fixture
