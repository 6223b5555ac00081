"""Resume by event id: missed events replayed in order, then live, with no gap and no repeat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import Received, publish, settle, sse_subscriber, ws_subscriber
from tests.support.processes import RedisProcess, ServiceProcess, service_process


@pytest.fixture(scope="module")
def uncached_node(redis: RedisProcess) -> Iterator[ServiceProcess]:
    """A Redis node whose memory replay cache is off, so every resume reads the Redis stream."""
    with service_process(redis.url, env={"BREAKING_REPLAY_CACHE_SIZE": "0"}) as node:
        yield node


@pytest.fixture(params=["memory", "redis", "uncached"])
def resume_node(request: pytest.FixtureRequest) -> ServiceProcess:
    name = "uncached_node" if request.param == "uncached" else f"{request.param}_node"
    node: ServiceProcess = request.getfixturevalue(name)
    return node


@contextlib.asynccontextmanager
async def subscriber(
    node: ServiceProcess, transport: str, last_event_id: str | None, **filters: Any
) -> AsyncIterator[Received]:
    if transport == "sse":
        async with sse_subscriber(node, last_event_id=last_event_id, **filters) as received:
            yield received
    else:
        async with ws_subscriber(node, last_event_id=last_event_id, **filters) as ws:
            yield ws.received


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_missed_events_replayed_in_order_then_live(
    resume_node: ServiceProcess, transport: str
) -> None:
    node = resume_node
    async with httpx.AsyncClient() as client:
        async with subscriber(node, transport, None, region="europe") as first:
            seen = await publish(client, node, "seen", ("europe",))
            await first.wait_events(1)
        missed = [await publish(client, node, f"missed {i}", ("europe",)) for i in range(3)]
        await publish(client, node, "other region", ("asia",))
        async with subscriber(node, transport, seen["id"], region="europe") as again:
            await again.wait_events(3)
            live = await publish(client, node, "live", ("europe",))
            mark = await settle(client, node, again, regions=("europe",))
            assert again.ids == [*(e["id"] for e in [*missed, live]), mark]


async def test_resume_from_the_position_marker_of_a_stream_that_saw_nothing(
    resume_node: ServiceProcess,
) -> None:
    node = resume_node
    async with httpx.AsyncClient() as client:
        async with sse_subscriber(node, region="africa", language="es") as idle:
            position = idle.last_id
        assert position is not None
        missed = await publish(client, node, "while away", ("africa",), language="es")
        async with sse_subscriber(
            node, last_event_id=position, region="africa", language="es"
        ) as back:
            await back.wait_events(1)
            assert back.ids == [missed["id"]]


async def test_last_event_id_query_parameter(resume_node: ServiceProcess) -> None:
    node = resume_node
    async with httpx.AsyncClient() as client:
        before = await publish(client, node, "before", ("palestine",))
        after = await publish(client, node, "after", ("palestine",))
        async with client.stream(
            "GET",
            f"{node.url}/v1/events",
            params={"region": "palestine", "last_event_id": before["id"]},
        ) as response:
            text = ""
            async with asyncio.timeout(5):
                async for chunk in response.aiter_text():
                    text += chunk
                    if after["id"] in text:
                        break
        assert f"id: {after['id']}\nevent: alert" in text
        assert f"id: {before['id']}\nevent" not in text


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_an_id_older_than_history_gets_reset_first(
    resume_node: ServiceProcess, transport: str
) -> None:
    node = resume_node
    async with (
        httpx.AsyncClient() as client,
        subscriber(node, transport, "1-0", region="mena") as sub,
    ):
        await sub.wait_control("reset")
        live = await publish(client, node, "after reset", ("mena",))
        await sub.wait_events(1)
        assert sub.ids == [live["id"]]


@pytest.mark.parametrize("bad", ["yesterday", "12", "1-2-3", "-1-0"])
async def test_malformed_last_event_id_is_400(node: ServiceProcess, bad: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{node.url}/v1/events", headers={"Last-Event-ID": bad})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "event id" in response.json()["detail"]


@pytest.mark.parametrize("missed_count", [5, 60])
async def test_events_published_during_replay_arrive_exactly_once(
    resume_node: ServiceProcess, missed_count: int
) -> None:
    """Subscribers resume while an editor keeps publishing, over many rounds.

    5 missed events replay inline from the node's memory; 60 go through the replay task
    (and, on the uncached node, through the Redis stream) while live events are buffered.
    """
    node = resume_node
    async with httpx.AsyncClient() as client:
        for round_ in range(4):
            anchor = await publish(client, node, f"anchor {round_}", ("latin-america",))
            missed = [
                await publish(client, node, f"missed {i}", ("latin-america",))
                for i in range(missed_count)
            ]
            during: list[dict[str, Any]] = []

            async def keep_publishing(
                round_: int = round_, during: list[dict[str, Any]] = during
            ) -> None:
                for i in range(15):
                    during.append(
                        await publish(client, node, f"during {round_}.{i}", ("latin-america",))
                    )
                    await asyncio.sleep(0.003)

            async with contextlib.AsyncExitStack() as stack:
                publisher = asyncio.create_task(keep_publishing())
                subs = []
                for transport in ("sse", "ws", "sse", "ws"):
                    subs.append(
                        await stack.enter_async_context(
                            subscriber(node, transport, anchor["id"], region="latin-america")
                        )
                    )
                    await asyncio.sleep(0.005)
                await publisher
                mark = await settle(client, node, *subs, regions=("latin-america",), within=10)
                expected = [e["id"] for e in [*missed, *during]]
                for sub in subs:
                    assert sub.ids == [*expected, mark]
