"""Connection caps: per client address (429), subscribers' share (503), the node (503)."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.abuse.attacks import connect, read_answer
from tests.abuse.conftest import (
    MAX_CONNECTIONS,
    PER_IP,
    PROXY,
    RESERVED,
    honest_traffic_flows,
    metric,
)
from tests.support.processes import ServiceProcess


def _subscribe(port: int, source: str, forwarded_for: str | None = None) -> socket.socket:
    """An SSE subscriber on a raw socket, once its stream began."""
    sock = connect(port, source)
    extra = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
    sock.sendall(f"GET /v1/events HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    data = b""
    while b"retry: " not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(data.decode("latin-1"))
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    return sock


@contextlib.contextmanager
def _held(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _refused(port: int, source: str, path: str = "/v1/events", extra: str = "") -> dict[str, Any]:
    with connect(port, source) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
        answer = read_answer(sock)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"].isdigit()
    problem: dict[str, Any] = json.loads(answer.body)
    assert problem["status"] == answer.status
    return problem


def _metric(node: ServiceProcess, reason: str) -> float:
    return metric(node, f'breaking_refusals_total{{reason="{reason}"}}')


async def test_one_address_gets_429_past_its_cap_and_others_are_served(
    guarded_node: ServiceProcess,
) -> None:
    attacker = "127.0.2.1"
    with _held([_subscribe(guarded_node.port, attacker) for _ in range(PER_IP)]):
        for _ in range(3):
            problem = _refused(guarded_node.port, attacker)
            assert problem["status"] == 429
            assert "BREAKING_MAX_CONNECTIONS_PER_IP" in problem["detail"]
        # A WebSocket is refused before the upgrade, with the same 429 and Retry-After.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"{guarded_node.ws_url}/v1/ws",
                sock=connect(guarded_node.port, attacker),
                open_timeout=5,
            ):
                pass
        assert refused.value.response.status_code == 429
        assert refused.value.response.headers["retry-after"].isdigit()
        await honest_traffic_flows(guarded_node)
        assert _metric(guarded_node, "max_connections_per_ip") >= 4
    # One log line for the burst, however many refusals it had.
    lines = [
        line for line in guarded_node.output().splitlines() if "[max_connections_per_ip]" in line
    ]
    assert len(lines) == 1, lines


def test_behind_a_trusted_proxy_the_forwarded_address_is_capped(
    guarded_node: ServiceProcess,
) -> None:
    client = "198.51.100.7"
    with _held(
        [_subscribe(guarded_node.port, PROXY, f"203.0.113.9, {client}") for _ in range(PER_IP)]
    ):
        problem = _refused(guarded_node.port, PROXY, extra=f"X-Forwarded-For: {client}\r\n")
        assert problem["status"] == 429
        # Another client through the same proxy is still served.
        _subscribe(guarded_node.port, PROXY, "198.51.100.8").close()


def test_forwarded_for_from_an_untrusted_peer_is_ignored(guarded_node: ServiceProcess) -> None:
    attacker = "127.0.2.2"
    with _held([_subscribe(guarded_node.port, attacker, f"10.0.0.{i}") for i in range(PER_IP)]):
        # Each claimed a different address; all are counted as the peer they really are.
        problem = _refused(guarded_node.port, attacker, extra="X-Forwarded-For: 10.9.9.9\r\n")
        assert problem["status"] == 429


async def test_subscribers_leave_a_reserve_and_the_node_refuses_past_its_cap(
    capped_node: ServiceProcess,
) -> None:
    port = capped_node.port
    share = MAX_CONNECTIONS - RESERVED
    subscribers = [
        _subscribe(port, f"127.0.3.{i // (PER_IP - 1) + 1}")
        for i in range(share)  # no address at its own cap
    ]
    with _held(subscribers):
        problem = _refused(port, "127.0.4.1")
        assert problem["status"] == 503
        assert "no room for more subscribers" in problem["detail"]
        # The reserve: probes, metrics and the editors' API still get in.
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"{capped_node.url}/healthz")).status_code == 200
            assert (await client.get(f"{capped_node.url}/metrics")).status_code == 200
            response = await client.post(
                f"{capped_node.url}/v1/alerts",
                json={"headline": "During the flood", "regions": ["mena"], "language": "en"},
                headers={"Authorization": f"Bearer {capped_node.token}"},
            )
            assert response.status_code == 201
        # Idle connections fill the reserve; the next connection is refused with 503.
        idle = [connect(port, f"127.0.5.{i // (PER_IP - 1) + 1}") for i in range(RESERVED)]
        with _held(idle):
            problem = _refused(port, "127.0.6.1", path="/healthz")
            assert problem["status"] == 503
            assert "BREAKING_MAX_CONNECTIONS" in problem["detail"]
    assert _metric(capped_node, "subscriber_slots") >= 1
    assert _metric(capped_node, "max_connections") >= 1
