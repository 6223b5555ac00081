"""Request heads are bounded in size, field count and time, on taken-over and ASGI routes alike."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.abuse.attacks import (
    closed_by_peer,
    connect,
    endless_header,
    read_answer,
    slow_sockets,
    watch_rss,
)
from tests.abuse.conftest import HEAD_TIMEOUT_S, RSS_BOUND_MB, honest_traffic_flows, pid
from tests.support.processes import ServiceProcess

ROUTES = ["/v1/events", "/v1/alerts", "/healthz"]


def _ask(
    node: ServiceProcess, request: bytes, source: str
) -> tuple[int, dict[str, str], dict[str, Any]]:
    with connect(node.port, source) as sock:
        sock.sendall(request)
        answer = read_answer(sock)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["connection"] == "close"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert closed_by_peer(sock, 2)
        return answer.status, answer.headers, json.loads(answer.body)


@pytest.mark.parametrize("path", ROUTES)
def test_a_head_over_the_size_limit_is_431(guarded_node: ServiceProcess, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 20_000}\r\n\r\n".encode()
    status, _, problem = _ask(guarded_node, request, "127.0.1.1")
    assert status == 431
    assert problem["status"] == 431
    assert "BREAKING_MAX_HEADER_BYTES" in problem["detail"]


@pytest.mark.parametrize("path", ROUTES)
def test_too_many_header_fields_is_431(guarded_node: ServiceProcess, path: str) -> None:
    fields = "".join(f"X-{i}: {i}\r\n" for i in range(150))
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode()
    status, _, problem = _ask(guarded_node, request, "127.0.1.2")
    assert status == 431
    assert "BREAKING_MAX_HEADERS" in problem["detail"]


def test_an_unparsable_request_is_a_400_problem(guarded_node: ServiceProcess) -> None:
    status, _, problem = _ask(guarded_node, b"GET / HTTP/1.1\r\nHost x\r\n\r\n", "127.0.1.3")
    assert status == 400
    assert problem["title"] == "Bad Request"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/alerts"])
async def test_an_endless_header_is_cut_at_the_limit(
    guarded_node: ServiceProcess, path: str
) -> None:
    with watch_rss(pid(guarded_node)) as rss:
        result = endless_header(guarded_node.port, path, total=8 * 1024 * 1024, source="127.0.1.4")
    # The node answered 431 and closed at the limit: the rest (and what loopback's socket
    # buffers held) was never read.
    assert result.outcome == "closed by node", result
    assert result.sent < 8 * 1024 * 1024, result
    assert rss.growth < RSS_BOUND_MB, rss
    await honest_traffic_flows(guarded_node)


async def test_a_head_that_does_not_complete_in_time_is_408_and_closed(
    guarded_node: ServiceProcess,
) -> None:
    started = time.monotonic()
    socks = slow_sockets(guarded_node.port, 8, source="127.0.1.5")
    idle = connect(guarded_node.port, "127.0.1.5")  # sends nothing at all
    try:
        await honest_traffic_flows(guarded_node)
        for sock in [*socks, idle]:
            answer = read_answer(sock, timeout=HEAD_TIMEOUT_S + 3)
            assert answer.status == 408
            assert json.loads(answer.body)["status"] == 408
            assert closed_by_peer(sock, 2)
        assert time.monotonic() - started < HEAD_TIMEOUT_S + 3
    finally:
        for sock in [*socks, idle]:
            sock.close()


def test_a_head_trickled_byte_by_byte_is_cut_at_the_deadline(guarded_node: ServiceProcess) -> None:
    with connect(guarded_node.port, "127.0.1.6") as sock:
        started = time.monotonic()
        answer = None
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - started > HEAD_TIMEOUT_S + 0.5:
                break
        answer = read_answer(sock, timeout=3)
        assert answer.status == 408
        assert time.monotonic() - started < HEAD_TIMEOUT_S + 1.5
