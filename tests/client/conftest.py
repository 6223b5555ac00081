"""The client tests' own nodes: their publishing never meets another suite's rate limit."""

from __future__ import annotations

import pytest

from tests.support.nodes import node_fixtures
from tests.support.processes import ServiceProcess

# Generous: these tests publish dozens of alerts a minute with one token.
CLIENT_NODE_ENV = {
    "BREAKING_PUBLISH_RATE_PER_MINUTE": "100000",
    "BREAKING_KEY_PREFIX": "client-tests",
}


client_memory_node, client_redis_node = node_fixtures("client", CLIENT_NODE_ENV, scope="package")


@pytest.fixture(params=["memory", "redis"])
def client_node(request: pytest.FixtureRequest) -> ServiceProcess:
    """The client's behaviour holds on both brokers."""
    node: ServiceProcess = request.getfixturevalue(f"client_{request.param}_node")
    return node
