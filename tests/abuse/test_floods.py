"""The issue's floods at full size (`make soak`): bounded in bytes and time, loopback only."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest
from websockets.frames import Opcode

from tests.abuse.attacks import (
    client_frame,
    connect,
    endless_header,
    flood,
    slow_sockets,
    socket_answers,
    watch_rss,
    ws_open,
)
from tests.abuse.conftest import RSS_BOUND_MB, honest_traffic_flows, metric, pid
from tests.support.processes import ServiceProcess, service_env, service_process

pytestmark = pytest.mark.soak

MB = 1024 * 1024
# Many sockets from few addresses: the per-address cap is not what these floods test. The
# sign-in throttle is back at its default (the test nodes' environment lifts it).
_ROOMY = {
    "BREAKING_MAX_CONNECTIONS_PER_IP": "1000",
    "BREAKING_SIGNIN_FAILURES_PER_MINUTE": "10",
}


@pytest.fixture
def roomy_node() -> Iterator[ServiceProcess]:
    with service_process(env=_ROOMY) as node:
        yield node


async def test_two_thousand_slowloris_sockets_are_all_cut(roomy_node: ServiceProcess) -> None:
    with watch_rss(pid(roomy_node)) as rss:
        socks: list[socket.socket] = []
        for i in range(10):
            socks += slow_sockets(roomy_node.port, 200, f"127.0.20.{i + 1}")
        try:
            started = time.monotonic()
            await honest_traffic_flows(roomy_node)
            while time.monotonic() - started < 13:
                await asyncio.sleep(5)
                for sock in socks:
                    with suppress(OSError):
                        sock.send(b"X")
            assert socket_answers(socks) == {"408": 2000}
        finally:
            for sock in socks:
                sock.close()
    assert rss.growth < RSS_BOUND_MB, rss
    assert metric(roomy_node, 'breaking_refusals_total{reason="head_timeout"}') >= 2000


async def test_three_thousand_wrong_tokens(roomy_node: ServiceProcess) -> None:
    codes: dict[int, int] = {}
    started = time.monotonic()
    with watch_rss(pid(roomy_node)) as rss:
        async with httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address="127.0.21.1"), timeout=5
        ) as attacker:
            for i in range(3000):
                response = await attacker.post(
                    f"{roomy_node.url}/v1/alerts",
                    json={"headline": "x", "regions": ["mena"], "language": "en"},
                    headers={"Authorization": f"Bearer guess-{i:016d}"},
                )
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
    assert rss.growth < RSS_BOUND_MB, rss
    # A burst of 10 (the default), then one more every 6 s as the allowance refills.
    allowed = 10 + int((time.monotonic() - started) / 6) + 1
    assert set(codes) == {401, 429}, codes
    assert 10 <= codes[401] <= allowed, codes
    await honest_traffic_flows(roomy_node)


@pytest.mark.parametrize("path", ["/v1/events", "/v1/alerts"])
async def test_a_48_mb_header(roomy_node: ServiceProcess, path: str) -> None:
    with watch_rss(pid(roomy_node)) as rss:
        result = await asyncio.to_thread(endless_header, roomy_node.port, path, 48 * MB)
    assert result.outcome == "closed by node", result
    assert rss.growth < RSS_BOUND_MB, rss
    await honest_traffic_flows(roomy_node)


async def test_many_websockets_that_never_read(roomy_node: ServiceProcess) -> None:
    ping = client_frame(Opcode.PING, b"")
    bad = client_frame(Opcode.TEXT, b"{}")

    def attack(i: int) -> str:
        with ws_open(roomy_node.port, f"127.0.22.{i + 1}") as sock:
            return flood(sock, ping if i % 2 else bad, int(2.9 * MB)).outcome

    with watch_rss(pid(roomy_node)) as rss:
        attacks = [asyncio.to_thread(attack, i) for i in range(20)]
        # An SSE and a WebSocket subscriber get an editor's alert while the 20 flood.
        await asyncio.gather(honest_traffic_flows(roomy_node), *attacks)
    assert rss.growth < RSS_BOUND_MB, rss


@contextmanager
def _descriptor_limit(limit: int) -> Iterator[None]:
    """Lower this process's soft RLIMIT_NOFILE while a node starts: the node inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_connection_flood_past_the_descriptor_limit() -> None:
    """The node caps itself below its descriptor limit: past it, 503, no crash, no spin."""
    node = ServiceProcess(env=service_env(**_ROOMY))
    with _descriptor_limit(384):
        node.start()
    try:
        cpu_before = _cpu_seconds(pid(node))
        socks = []
        with watch_rss(pid(node)) as rss:
            for i in range(900):
                with suppress(OSError):
                    sock = connect(node.port, f"127.0.23.{i // 200 + 1}")
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    socks.append(sock)
            await asyncio.sleep(2)
        assert rss.growth < RSS_BOUND_MB, rss
        seen = socket_answers(socks)
        # 384 - 128 descriptors for connections: the rest were answered 503 (or, when even
        # the refusals' own descriptors ran out, reset by the event loop's EMFILE guard).
        assert seen.get("open", 0) <= 384 - 128, seen
        assert seen.get("503", 0) > 0, seen
        for sock in socks:
            sock.close()
        await asyncio.sleep(1)
        assert node.proc is not None
        assert node.proc.poll() is None, node.output()
        assert _cpu_seconds(pid(node)) - cpu_before < 10, "the node spun"
        await honest_traffic_flows(node)
    finally:
        node.kill()
        node.log.unlink(missing_ok=True)


def _cpu_seconds(process: int) -> float:
    """User and system CPU time of `process` (clock ticks of 1/100 s on Linux)."""
    with open(f"/proc/{process}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / 100
