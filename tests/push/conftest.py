"""Nodes with Web Push on, and the local push service they deliver to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from service.push.keys import generate
from tests.push.pushservice import PushService, push_service
from tests.support.cluster import ClusterProcesses
from tests.support.processes import ServiceProcess, service_process

VAPID_PRIVATE, VAPID_PUBLIC = generate()


def push_env(**overrides: str) -> dict[str, str]:
    """A node's push settings: the test key pair, http endpoints allowed (loopback only)."""
    return {
        "BREAKING_VAPID_PRIVATE_KEY": VAPID_PRIVATE,
        "BREAKING_VAPID_SUBJECT": "mailto:desk@news.example",
        "BREAKING_PUSH_ALLOW_HTTP": "true",
        "BREAKING_PUSH_SUBSCRIBE_RATE_PER_MINUTE": "100000",
        "BREAKING_PUSH_CLAIM_SECONDS": "1",
        **overrides,
    }


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    """A fresh local push service per test, so each test's records are its own."""
    async with push_service(VAPID_PUBLIC) as service:
        yield service


@pytest.fixture(scope="module", params=["memory", "redis", "cluster"])
def push_node(request: pytest.FixtureRequest) -> Iterator[ServiceProcess]:
    """A node with push on, once per broker (and on a Redis Cluster) so all stay equivalent."""
    if request.param == "memory":
        with service_process(env=push_env()) as node:
            yield node
        return
    # Its own key prefix, so the session's other nodes on this Redis never share its group.
    env = push_env(BREAKING_KEY_PREFIX="push-suite")
    if request.param == "cluster":
        cluster: ClusterProcesses = request.getfixturevalue("redis_cluster")
        url = cluster.url
        env["BREAKING_REDIS_CLUSTER"] = "true"
    else:
        url = request.getfixturevalue("redis").url
    with service_process(url, env=env) as node:
        yield node
