"""Nodes with small, known limits, and the check that honest traffic still flows."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.clients import settle, sse_subscriber, ws_subscriber
from tests.support.processes import ServiceProcess, service_process

# The "proxy" the nodes trust: a loopback address of its own, so XFF from any other is ignored.
PROXY = "127.0.0.200"
HEAD_TIMEOUT_S = 2
SIGNIN_PER_MINUTE = 5
MAX_CONNECTIONS = 80
PER_IP = 12
RESERVED = 10
# Every flood in this suite must leave the node within this much of its RSS before it.
RSS_BOUND_MB = 40.0

_LIMITS = {
    "BREAKING_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_S),
    "BREAKING_SIGNIN_FAILURES_PER_MINUTE": str(SIGNIN_PER_MINUTE),
    "BREAKING_TRUSTED_PROXIES": PROXY,
    "BREAKING_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "BREAKING_MAX_CONNECTIONS_PER_IP": str(PER_IP),
    "BREAKING_RESERVED_CONNECTIONS": str(RESERVED),
}


@pytest.fixture(scope="package")
def guarded_node() -> Iterator[ServiceProcess]:
    """A memory-broker node with the suite's limits; each test attacks from its own address."""
    with service_process(env=_LIMITS) as node:
        yield node


@pytest.fixture
def capped_node() -> Iterator[ServiceProcess]:
    """A node of its own for the tests that fill its connection caps."""
    with service_process(env=_LIMITS) as node:
        yield node


def metric(node: ServiceProcess, sample: str) -> float:
    """The value of one sample of the node's /metrics, e.g. `breaking_refusals_total{...}`."""
    for line in httpx.get(f"{node.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{sample} "):
            return float(line.split()[-1])
    return 0.0


def pid(node: ServiceProcess) -> int:
    assert node.proc is not None
    return node.proc.pid


async def honest_traffic_flows(node: ServiceProcess) -> None:
    """An SSE and a WebSocket subscriber get an editor's alert: the attack did not stop them."""
    async with (
        httpx.AsyncClient(timeout=5) as client,
        sse_subscriber(node, region="mena") as sse,
        ws_subscriber(node, region="mena") as ws,
    ):
        await settle(client, node, sse, ws.received)
