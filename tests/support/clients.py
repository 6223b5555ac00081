"""Real SSE (httpx + httpx-sse) and WebSocket (websockets) subscribers that record what arrives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from httpx_sse import aconnect_sse

from tests.support.processes import ServiceProcess

EVENT_TYPES = frozenset(("alert", "correction", "retraction"))


@dataclass
class Received:
    """What one subscriber got: events (alert/correction/retraction) and control messages."""

    events: list[dict[str, Any]] = field(default_factory=list)
    controls: list[tuple[str, Any]] = field(default_factory=list)
    # Kept apart from `controls`: they come every interval, whatever else happens.
    heartbeats: list[Any] = field(default_factory=list)
    last_id: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def record(self, kind: str, event_id: str | None, data: Any) -> None:
        if event_id:
            self.last_id = event_id
        async with self.arrived:
            if kind in EVENT_TYPES:
                self.events.append(data)
            elif kind == "heartbeat":
                self.heartbeats.append(data)
            else:
                self.controls.append((kind, data))
            self.arrived.notify_all()

    @property
    def ids(self) -> list[str]:
        return [event["id"] for event in self.events]

    async def wait_events(self, count: int, within: float = 5) -> list[dict[str, Any]]:
        """Wait until at least `count` events arrived; fail the test if they do not."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.events) >= count)
        return self.events

    async def wait_control(self, kind: str, count: int = 1, within: float = 5) -> Any:
        """Wait for the `count`-th control message of `kind` (reset, ready, error); return it."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.of_kind(kind)) >= count)
        return self.of_kind(kind)[count - 1]

    async def wait_id(self, event_id: str, within: float = 5) -> None:
        """Wait until the event with this id arrived; fail the test if it does not."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: event_id in self.ids)

    async def wait_heartbeat(self, within: float = 5) -> Any:
        """Wait for the first heartbeat; return its data."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: bool(self.heartbeats))
        return self.heartbeats[0]

    def of_kind(self, kind: str) -> list[Any]:
        return [data for k, data in self.controls if k == kind]


def _query(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if v is not None}


@contextlib.asynccontextmanager
async def sse_subscriber(
    node: ServiceProcess, *, last_event_id: str | None = None, **filters: Any
) -> AsyncIterator[Received]:
    """An SSE subscriber; returns once the stream is live (its position marker arrived)."""
    received = Received()
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    ready = asyncio.Event()

    async def read() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client,
            aconnect_sse(
                client, "GET", f"{node.url}/v1/events", params=_query(filters), headers=headers
            ) as source,
        ):
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                if sse.retry is not None and not sse.data and not sse.id:
                    continue  # the `retry:` hint of the head, not yet the live marker
                if sse.event == "message" and not sse.data:
                    received.last_id = sse.id or received.last_id
                    ready.set()
                    continue
                await received.record(sse.event, sse.id or None, json.loads(sse.data))
                if sse.event == "reset":
                    ready.set()
        received.closed.set()

    task = asyncio.create_task(read())
    try:
        await _until_ready(ready, task)
        yield received
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _until_ready(ready: asyncio.Event, task: asyncio.Task[None]) -> None:
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({waiter, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task in done:
        task.result()
    if not ready.is_set():
        raise TimeoutError("subscriber did not go live")


@dataclass
class WsClient:
    connection: websockets.ClientConnection
    received: Received

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))


@contextlib.asynccontextmanager
async def ws_subscriber(
    node: ServiceProcess, *, origin: str | None = None, **filters: Any
) -> AsyncIterator[WsClient]:
    """A WebSocket subscriber; returns once the `ready` frame arrived."""
    received = Received()
    query = str(httpx.QueryParams(_query(filters)))
    async with websockets.connect(
        f"{node.ws_url}/v1/ws?{query}",
        origin=None if origin is None else websockets.Origin(origin),
        open_timeout=5,
    ) as connection:

        async def read() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in connection:
                    frame = json.loads(raw)
                    await received.record(frame["event"], frame.get("id"), frame.get("data"))
            received.closed.set()

        task = asyncio.create_task(read())
        try:
            await received.wait_control("ready")
            yield WsClient(connection, received)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def publish(
    client: httpx.AsyncClient,
    node: ServiceProcess,
    headline: str = "Breaking",
    regions: tuple[str, ...] = ("mena",),
    **fields: Any,
) -> dict[str, Any]:
    """POST one alert as the desk editor; fails the test unless it is 201."""
    body = {"headline": headline, "regions": list(regions), "language": "en", **fields}
    response = await client.post(
        f"{node.url}/v1/alerts", json=body, headers={"Authorization": f"Bearer {node.token}"}
    )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def settle(
    client: httpx.AsyncClient,
    node: ServiceProcess,
    *subscribers: Received,
    regions: tuple[str, ...] = ("mena",),
    within: float = 5,
    **fields: Any,
) -> str:
    """Publish a sentinel alert every subscriber follows; return its id once each has it.

    A node delivers events in id order, so an earlier event that was going to reach a
    subscriber has arrived before the sentinel: "nothing else came" needs no sleep.
    """
    sentinel = await publish(client, node, f"sentinel {uuid.uuid4().hex[:8]}", regions, **fields)
    for received in subscribers:
        await received.wait_id(sentinel["id"], within)
    sentinel_id: str = sentinel["id"]
    return sentinel_id
