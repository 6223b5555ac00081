"""Soak: a node SIGKILLed under load, and Redis restarted with and without its data.

Bounded: each run publishes for a few seconds at about 50 alerts/s. Run with `make soak`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.faults.verdict import assert_no_silent_gap
from tests.support.clients import Received, publish, sse_subscriber, ws_subscriber
from tests.support.processes import (
    EDITOR_TOKEN,
    RedisProcess,
    ServiceProcess,
    readyz_becomes,
    redis_process,
    serving,
)


@dataclass
class Publisher:
    """Publishes steadily through one node; keeps the ids that got 201, counts the others."""

    node: ServiceProcess
    acknowledged: list[str] = field(default_factory=list)
    unanswered: int = 0
    refused: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        body = {"headline": "soak", "regions": ["mena"], "language": "en"}
        headers = {"Authorization": f"Bearer {EDITOR_TOKEN}"}
        async with httpx.AsyncClient(timeout=3) as client:
            while not stop.is_set():
                try:
                    response = await client.post(
                        f"{self.node.url}/v1/alerts", json=body, headers=headers
                    )
                except httpx.HTTPError:
                    self.unanswered += 1
                else:
                    if response.status_code == 201:
                        self.acknowledged.append(response.json()["id"])
                    elif response.status_code == 503:
                        # 503 means nothing was published, unless Redis died mid-reply.
                        self.refused += 1
                    else:
                        raise AssertionError(response.text)
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def publishing(node: ServiceProcess) -> AsyncIterator[Publisher]:
    publisher = Publisher(node)
    stop = asyncio.Event()
    task = asyncio.create_task(publisher.run(stop))
    try:
        yield publisher
    finally:
        stop.set()
        await task


async def _last(client: httpx.AsyncClient, node: ServiceProcess, publisher: Publisher) -> None:
    publisher.acknowledged.append((await publish(client, node, "last", ("mena",)))["id"])


async def _arrived(received: Received, event_id: str) -> None:
    async with asyncio.timeout(20), received.arrived:
        await received.arrived.wait_for(lambda: event_id in received.ids)


@pytest.mark.soak
async def test_node_killed_under_load_subscribers_resume_on_the_other() -> None:
    with redis_process() as redis:
        async with (
            serving(redis.url) as doomed,
            serving(redis.url) as survivor,
            httpx.AsyncClient() as client,
            contextlib.AsyncExitStack() as survivors,
        ):
            before = await _subscribe(doomed)
            async with publishing(survivor) as publisher:
                await asyncio.sleep(2)
                resumed, moved = await _kill_and_resume(before, doomed, survivor, survivors)
                await asyncio.sleep(2)
            await _last(client, survivor, publisher)
            for _, second in resumed:
                await _arrived(second, publisher.acknowledged[-1])
    print(f"{len(resumed)} subscribers resumed on the other node within {moved:.2f} s")
    for i, (first, second) in enumerate(resumed):
        both = Received(
            events=first.events + second.events, controls=first.controls + second.controls
        )
        assert_no_silent_gap(publisher.acknowledged, both, f"subscriber {i}")
        assert both.of_kind("reset") == []


Subscription = tuple[contextlib.AbstractAsyncContextManager[Any], Received]


async def _subscribe(node: ServiceProcess) -> list[Subscription]:
    """Two SSE and two WebSocket subscribers, left open for `_kill_and_resume` to end."""
    subscriptions = []
    for transport in ("sse", "ws", "sse", "ws"):
        cm: contextlib.AbstractAsyncContextManager[Any] = (
            sse_subscriber(node, region="mena")
            if transport == "sse"
            else ws_subscriber(node, region="mena")
        )
        entered = await cm.__aenter__()
        subscriptions.append((cm, entered if transport == "sse" else entered.received))
    return subscriptions


async def _kill_and_resume(
    before: list[Subscription],
    doomed: ServiceProcess,
    survivor: ServiceProcess,
    survivors: contextlib.AsyncExitStack,
) -> tuple[list[tuple[Received, Received]], float]:
    """SIGKILL `doomed`; its subscribers resume on `survivor` from the last id they read, as
    EventSource would. Returns both halves of each, and how long moving them took."""
    doomed.kill()
    killed_at = time.monotonic()
    resumed: list[tuple[Received, Received]] = []
    for i, (cm, first) in enumerate(before):
        # The client processed what it read before the kill, and resumes from there.
        await cm.__aexit__(None, None, None)
        if i % 2 == 0:
            second = await survivors.enter_async_context(
                sse_subscriber(survivor, last_event_id=first.last_id, region="mena")
            )
        else:
            second = (
                await survivors.enter_async_context(
                    ws_subscriber(survivor, last_event_id=first.last_id, region="mena")
                )
            ).received
        resumed.append((first, second))
    return resumed, time.monotonic() - killed_at


async def _restart(redis: RedisProcess, *, keep_data: bool, nodes: list[ServiceProcess]) -> float:
    """Kill Redis, wait until every node noticed, start it again; seconds until all are ready."""
    redis.stop()
    if not keep_data:
        for path in redis.dir.iterdir():
            if path.is_dir():
                for part in path.iterdir():
                    part.unlink()
            else:
                path.unlink()
    for node in nodes:
        await readyz_becomes(node, 503)
    redis.start(appendonly=keep_data)
    started = time.monotonic()
    for node in nodes:
        await readyz_becomes(node, 200, within=20)
    return time.monotonic() - started


@pytest.mark.soak
@pytest.mark.parametrize("keep_data", [True, False], ids=["with-data", "empty"])
async def test_redis_restarted_under_load(keep_data: bool) -> None:
    with redis_process(appendonly=keep_data) as redis:
        if keep_data:
            redis.command("CONFIG", "SET", "appendfsync", "always")
        async with (
            serving(redis.url) as one,
            serving(redis.url) as two,
            httpx.AsyncClient() as client,
            sse_subscriber(one, region="mena") as sse,
            ws_subscriber(two, region="mena") as ws,
        ):
            async with publishing(two) as publisher:
                await asyncio.sleep(2)
                recovery = await _restart(redis, keep_data=keep_data, nodes=[one, two])
                await asyncio.sleep(2)
            await _last(client, two, publisher)
            await _arrived(sse, publisher.acknowledged[-1])
            await _arrived(ws.received, publisher.acknowledged[-1])
    print(
        f"Redis restarted {'with' if keep_data else 'without'} its data: both nodes ready "
        f"{recovery:.2f} s after it started; {publisher.refused} publishes refused with 503, "
        f"{publisher.unanswered} unanswered"
    )
    for name, received in (("sse", sse), ("ws", ws.received)):
        assert_no_silent_gap(
            publisher.acknowledged,
            received,
            name,
            unanswered=publisher.refused + publisher.unanswered,
        )
        assert bool(received.of_kind("reset")) != keep_data
