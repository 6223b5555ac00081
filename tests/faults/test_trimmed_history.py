"""History trimmed for real (BREAKING_HISTORY_SIZE=10, 150 alerts): never a silent gap.

Redis trims `MAXLEN ~` by whole stream nodes (100 entries), so 150 alerts are needed before
anything is trimmed. The nodes keep no replay cache, so every resume reads the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.faults.proxy import proxy_to
from tests.faults.verdict import assert_no_silent_gap
from tests.support.clients import Received, publish, sse_subscriber, ws_subscriber
from tests.support.nodes import node_fixtures
from tests.support.processes import (
    RedisProcess,
    ServiceProcess,
    readyz_becomes,
    redis_process,
    service_process,
    serving,
)

SMALL_HISTORY = {"BREAKING_HISTORY_SIZE": "10", "BREAKING_REPLAY_CACHE_SIZE": "0"}
BEYOND_HISTORY = 150


@pytest.fixture(scope="module")
def trim_redis() -> Iterator[RedisProcess]:
    with redis_process() as redis:
        yield redis


small_memory_node, small_redis_node = node_fixtures("small", SMALL_HISTORY, redis="trim_redis")


@pytest.fixture(params=["memory", "redis"])
def small_node(request: pytest.FixtureRequest) -> ServiceProcess:
    node: ServiceProcess = request.getfixturevalue(f"small_{request.param}_node")
    return node


async def publish_ids(
    client: httpx.AsyncClient, node: ServiceProcess, count: int, region: str
) -> list[str]:
    return [(await publish(client, node, f"n{i}", (region,)))["id"] for i in range(count)]


async def arrived(received: Received, event_id: str, within: float = 10) -> None:
    """Wait for one id: a subscriber after `reset` gets fewer events than were published."""
    async with asyncio.timeout(within), received.arrived:
        await received.arrived.wait_for(lambda: event_id in received.ids)


@contextlib.asynccontextmanager
async def resumed(
    node: ServiceProcess, how: str, after: str, region: str
) -> AsyncIterator[Received]:
    """A subscriber resuming from `after` over SSE, WebSocket, or a WebSocket `subscribe` op."""
    if how == "sse":
        async with sse_subscriber(node, last_event_id=after, region=region) as received:
            yield received
    elif how == "ws":
        async with ws_subscriber(node, last_event_id=after, region=region) as ws:
            yield ws.received
    else:
        async with ws_subscriber(node, region=region) as ws:
            await ws.send({"op": "subscribe", "region": [region], "last_event_id": after})
            await ws.received.wait_control("ready", 2)
            yield ws.received


@pytest.mark.parametrize("how", ["sse", "ws", "subscribe-op"])
async def test_a_resume_inside_the_trimmed_range_gets_reset(
    small_node: ServiceProcess, how: str
) -> None:
    async with httpx.AsyncClient() as client:
        anchor = (await publish(client, small_node, "anchor", ("europe",)))["id"]
        missed = await publish_ids(client, small_node, BEYOND_HISTORY, "europe")
        async with (
            resumed(small_node, how, anchor, "europe") as trimmed,
            resumed(small_node, how, missed[-4], "europe") as covered,
        ):
            sentinel = (await publish(client, small_node, "sentinel", ("europe",)))["id"]
            await arrived(trimmed, sentinel)
            await arrived(covered, sentinel)
        assert_no_silent_gap([*missed, sentinel], trimmed, f"{how} from a trimmed id")
        assert trimmed.of_kind("reset"), "150 alerts cannot all be in a history of 10"
        assert covered.ids == [*missed[-3:], sentinel]
        assert covered.of_kind("reset") == []


async def test_every_resume_point_is_complete_or_reset(small_node: ServiceProcess) -> None:
    """Resume from each of 150 ids: the oldest get `reset`, the rest their exact tail."""
    async with httpx.AsyncClient() as client:
        published = await publish_ids(client, small_node, BEYOND_HISTORY, "asia")
    outcomes = []
    for i, after in enumerate(published[:-1]):
        async with sse_subscriber(small_node, last_event_id=after, region="asia") as sub:
            pass
        if sub.of_kind("reset"):
            assert sub.ids == [], f"resume from #{i}: events after reset"
            outcomes.append("reset")
        else:
            assert sub.ids == published[i + 1 :], f"resume from #{i} skipped events"
            outcomes.append("complete")
    first_complete = outcomes.index("complete")
    assert first_complete > 0, "nothing was trimmed"
    assert set(outcomes[first_complete:]) == {"complete"}
    print(f"resets from the oldest {first_complete} of {len(published)} ids")


async def test_the_redis_trim_point_is_exact(
    trim_redis: RedisProcess, small_redis_node: ServiceProcess
) -> None:
    """The newest trimmed id is still covered (its successors are all kept); the one before is not."""
    async with httpx.AsyncClient() as client:
        published = await publish_ids(client, small_redis_node, BEYOND_HISTORY, "africa")
    reply = trim_redis.command("XRANGE", "breaking:events", "-", "+", "COUNT", "1")
    match = re.search(rb"\$\d+\r\n(\d+-\d+)\r\n", reply)
    assert match is not None, reply
    first_kept = published.index(match[1].decode())
    newest_trimmed, older = published[first_kept - 1], published[first_kept - 2]
    async with sse_subscriber(small_redis_node, last_event_id=newest_trimmed, region="africa") as a:
        pass
    async with sse_subscriber(small_redis_node, last_event_id=older, region="africa") as b:
        pass
    assert a.ids == published[first_kept:]
    assert a.of_kind("reset") == []
    assert b.of_kind("reset")
    assert b.ids == []


@pytest.mark.parametrize("published_while_cut", [5, BEYOND_HISTORY])
async def test_a_node_cut_from_redis_backfills_or_resets(published_while_cut: int) -> None:
    """A node's Redis link is cut while another node publishes; its subscribers then get
    everything in order (within the history) or `reset` (beyond it)."""
    with redis_process() as redis, service_process(redis.url, env=SMALL_HISTORY) as other:
        async with (
            proxy_to(redis.port) as proxy,
            serving(proxy.url, env={**SMALL_HISTORY, "BREAKING_REDIS_PING_SECONDS": "1"}) as cut,
            httpx.AsyncClient() as client,
            sse_subscriber(cut, region="mena") as sse,
            ws_subscriber(cut, region="mena") as ws,
        ):
            before = (await publish(client, other, "before", ("mena",)))["id"]
            await arrived(sse, before)
            await arrived(ws.received, before)
            proxy.cut()
            await readyz_becomes(cut, 503)
            during = await publish_ids(client, other, published_while_cut, "mena")
            proxy.resume()
            await readyz_becomes(cut, 200)
            sentinel = (await publish(client, other, "sentinel", ("mena",)))["id"]
            await arrived(sse, sentinel)
            await arrived(ws.received, sentinel)
            log = cut.output()
        expected = [before, *during, sentinel]
        for name, received in (("sse", sse), ("ws", ws.received)):
            assert_no_silent_gap(expected, received, f"{name} on a node cut for {len(during)}")
            assert bool(received.of_kind("reset")) == (published_while_cut > 10)
        assert ("no longer covers" in log) == (published_while_cut > 10)


async def test_entries_from_an_older_node_fall_back_to_the_first_kept_id() -> None:
    """Entries written without the predecessor id (by a node from before it was recorded):
    only ids from the first kept entry on count as covered, so the fallback can send a
    `reset` too many, never a gap."""
    with redis_process() as redis:
        body = b'{"type":"alert","headline":"old","regions":["asia"],"language":"en","priority":"flash","ttl":3600}'
        # The epoch floor an older node's first publish would have set.
        redis.command("HSET", "breaking:meta", "floor", "1-0")
        published = []
        for _ in range(BEYOND_HISTORY):
            reply = redis.command("XADD", "breaking:events", "MAXLEN", "~", "10", "*", "e", body)
            match = re.search(rb"(\d+-\d+)", reply)
            assert match is not None, reply
            published.append(match[1].decode())
        first = re.search(
            rb"\$\d+\r\n(\d+-\d+)\r\n",
            redis.command("XRANGE", "breaking:events", "-", "+", "COUNT", "1"),
        )
        assert first is not None
        first_kept = published.index(first[1].decode())
        async with serving(redis.url, env=SMALL_HISTORY) as node:
            async with sse_subscriber(
                node, last_event_id=published[first_kept], region="asia"
            ) as a:
                pass
            async with sse_subscriber(
                node, last_event_id=published[first_kept - 1], region="asia"
            ) as b:
                pass
    assert a.ids == published[first_kept + 1 :]
    assert a.of_kind("reset") == []
    assert b.of_kind("reset")
    assert b.ids == []
