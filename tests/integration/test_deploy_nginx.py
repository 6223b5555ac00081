"""The deployed topology for real: three nodes on a private Redis behind deploy/nginx.conf."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import websockets
from httpx_sse import aconnect_sse

from tests.support.clients import EVENT_TYPES
from tests.support.nginx import NginxProcess, nginx_process
from tests.support.processes import EDITOR_TOKEN, ServiceProcess, redis_process, service_process

REGION = "mena"
ALERT = {"headline": "Through the load balancer", "regions": [REGION], "language": "en"}
AUTH = {"Authorization": f"Bearer {EDITOR_TOKEN}"}


@dataclass
class Topology:
    nodes: list[ServiceProcess]
    proxy: NginxProcess


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    with redis_process() as redis, contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(service_process(redis.url)) for _ in range(3)]
        proxy = stack.enter_context(nginx_process([f"127.0.0.1:{node.port}" for node in nodes]))
        # One alert first, so every stream opens with a position to resume from.
        posted = httpx.post(f"{proxy.url}/v1/alerts", json=ALERT, headers=AUTH)
        assert posted.status_code == 201, posted.text
        yield Topology(nodes, proxy)


async def _post(client: httpx.AsyncClient, base_url: str) -> str:
    posted = await client.post(f"{base_url}/v1/alerts", json=ALERT, headers=AUTH)
    assert posted.status_code == 201, posted.text
    event_id: str = posted.json()["id"]
    return event_id


def _subscribers(node: ServiceProcess) -> int:
    count: int = httpx.get(f"{node.url}/readyz").json()["subscribers"]
    return count


@dataclass
class Follower:
    """A subscriber through the proxy that resumes from its last id whenever it is cut off,
    once `may_resume` is set (so the test decides what is published while it is away)."""

    transport: str
    proxy: NginxProcess
    may_resume: asyncio.Event
    ids: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    last_id: str | None = None
    connections: int = 0
    live: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError, websockets.WebSocketException, OSError):
                await (self._sse() if self.transport == "sse" else self._ws())
            self.live.clear()
            self.dropped.set()
            await self.may_resume.wait()
            await asyncio.sleep(0.05)  # not a hot loop while the proxy answers 502

    async def _sse(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client,
            aconnect_sse(
                client,
                "GET",
                f"{self.proxy.url}/v1/events",
                params={"region": REGION},
                headers=headers,
            ) as source,
        ):
            source.response.raise_for_status()
            self.connections += 1
            async for sse in source.aiter_sse():
                # Blocks without data (`retry:`, the position marker) open a live stream.
                await self._record("ready" if not sse.data else sse.event, sse.id or None)

    async def _ws(self) -> None:
        query = {"region": REGION} | ({"last_event_id": self.last_id} if self.last_id else {})
        url = f"{self.proxy.ws_url}/v1/ws?{httpx.QueryParams(query)}"
        async with websockets.connect(url, open_timeout=5) as ws:
            self.connections += 1
            async for raw in ws:
                frame = json.loads(raw)
                await self._record(frame["event"], frame["id"])

    async def _record(self, kind: str, event_id: str | None) -> None:
        self.last_id = event_id or self.last_id
        async with self.changed:
            if kind == "ready":
                self.live.set()
            elif kind in EVENT_TYPES and event_id:
                self.ids.append(event_id)
            elif kind != "heartbeat":
                self.controls.append(kind)
            self.changed.notify_all()

    async def wait_for(self, event_id: str, within: float = 10) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: event_id in self.ids)


@contextlib.asynccontextmanager
async def followers(proxy: NginxProcess, transports: list[str]) -> AsyncIterator[list[Follower]]:
    """Followers through the proxy, returned once every one is live; cancelled at the end."""
    may_resume = asyncio.Event()
    may_resume.set()
    group = [Follower(transport, proxy, may_resume) for transport in transports]
    tasks = [asyncio.create_task(follower.run()) for follower in group]
    try:
        try:
            async with asyncio.timeout(10):
                await asyncio.gather(*(follower.live.wait() for follower in group))
        except TimeoutError:
            pytest.fail("subscribers through the proxy did not go live within 10 s")
        yield group
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_sse_and_websocket_through_the_proxy_reach_subscribers_on_every_node(
    topology: Topology,
) -> None:
    async with (
        followers(topology.proxy, ["sse", "ws"] * 3) as group,
        httpx.AsyncClient(timeout=10) as client,
    ):
        counts = [_subscribers(node) for node in topology.nodes]
        assert sum(counts) == len(group)
        assert max(counts) - min(counts) <= 1, f"least_conn spreads open streams: {counts}"
        event_id = await _post(client, topology.proxy.url)
        for follower in group:
            await follower.wait_for(event_id)
            assert follower.controls == []


@dataclass
class TimedStream:
    """An SSE response read chunk by chunk, each chunk stamped on arrival."""

    response: httpx.Response
    text: str = ""
    stamps: list[tuple[float, int]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self) -> None:
        async for chunk in self.response.aiter_raw():
            now = time.perf_counter()
            async with self.changed:
                self.text += chunk.decode()
                self.stamps.append((now, len(self.text)))
                self.changed.notify_all()

    async def arrival(self, event_id: str, within: float = 5) -> float:
        """When the chunk that completed the event's `id:` line arrived."""
        line = f"id: {event_id}\n"
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: line in self.text)
        end = self.text.index(line) + len(line)
        return next(stamp for stamp, length in self.stamps if length >= end)


@contextlib.asynccontextmanager
async def timed_stream(client: httpx.AsyncClient, base_url: str) -> AsyncIterator[TimedStream]:
    request = client.build_request("GET", f"{base_url}/v1/events", params={"region": REGION})
    # A buffering proxy holds back even the response head: bounded, or the test would hang.
    try:
        async with asyncio.timeout(5):
            response = await client.send(request, stream=True)
    except TimeoutError:
        pytest.fail(f"no response head from {base_url} within 5 s: is the proxy buffering?")
    try:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in response.headers
        stream = TimedStream(response)
        reader = asyncio.create_task(stream.read())
        try:
            yield stream
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        await response.aclose()


async def test_sse_through_the_proxy_is_not_buffered(topology: Topology) -> None:
    """An alert's bytes reach a subscriber through nginx about as fast as one on a node.

    Both latencies are measured from the same POSTs in one run; a buffering proxy would hold
    an alert until kilobytes pile up, which is seconds or never, not milliseconds.
    """
    publisher, watched = topology.nodes[0], topology.nodes[1]
    direct, proxied = [], []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        timed_stream(client, watched.url) as on_node,
        timed_stream(client, topology.proxy.url) as through_proxy,
    ):
        for _ in range(9):
            sent = time.perf_counter()
            event_id = await _post(client, publisher.url)
            direct.append(await on_node.arrival(event_id) - sent)
            proxied.append(await through_proxy.arrival(event_id) - sent)
    on_node_ms, proxy_ms = statistics.median(direct) * 1000, statistics.median(proxied) * 1000
    print(f"median POST -> first byte: direct {on_node_ms:.1f} ms, through nginx {proxy_ms:.1f} ms")
    assert proxy_ms <= 3 * on_node_ms + 50


async def _until_dropped(group: list[Follower], count: int, within: float = 10) -> None:
    """Until `count` of the group have lost their connection."""
    waits = [asyncio.create_task(follower.dropped.wait()) for follower in group]
    try:
        async with asyncio.timeout(within):
            for done, drop in enumerate(asyncio.as_completed(waits), start=1):
                await drop
                if done == count:
                    return
    finally:
        for wait in waits:
            wait.cancel()


async def test_resume_through_the_proxy_after_a_node_is_killed(topology: Topology) -> None:
    """SIGKILL one node: its subscribers come back through nginx to the others and get every
    alert published meanwhile exactly once, in order, like those that were never cut off."""
    victim, others = topology.nodes[0], topology.nodes[1:]
    async with (
        followers(topology.proxy, ["sse", "ws"] * 3) as group,
        httpx.AsyncClient(timeout=10) as client,
    ):
        published = [await _post(client, topology.proxy.url)]
        for follower in group:
            await follower.wait_for(published[-1])
        on_victim = _subscribers(victim)
        assert on_victim > 0
        may_resume = group[0].may_resume
        may_resume.clear()
        victim.kill()
        try:
            await _until_dropped(group, on_victim)
            for index in range(6):
                published.append(await _post(client, others[index % 2].url))
            may_resume.set()
            for _ in range(3):
                published.append(await _post(client, topology.proxy.url))
            for follower in group:
                await follower.wait_for(published[-1])
        finally:
            victim.start()
    cut_off = [f for f in group if f.dropped.is_set()]
    assert len(cut_off) == on_victim
    for follower in group:
        assert follower.ids == published, f"every alert once, in order ({follower.transport})"
        assert follower.controls == [], "no reset: the history covered the gap"
        assert follower.connections == (2 if follower in cut_off else 1)
