"""Shared by the client tests: a subscriber that keeps running, a proxy that blocks WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from breaking_client import Event, Reset


class Subscriber:
    """Drains `client.events(...)` in a task, so it reconnects on its own while the test acts."""

    def __init__(self, events: AsyncIterator[Event | Reset]) -> None:
        self._queue: asyncio.Queue[Event | Reset | BaseException] = asyncio.Queue()
        self._task = asyncio.create_task(self._drain(events))

    async def _drain(self, events: AsyncIterator[Event | Reset]) -> None:
        try:
            async for event in events:
                self._queue.put_nowait(event)
        except Exception as exc:  # handed to the test, which re-raises it
            self._queue.put_nowait(exc)

    async def take(self, count: int, wait: float = 10) -> list[Event | Reset]:
        """The next `count` events, or TimeoutError: every wait in these tests is bounded."""
        taken: list[Event | Reset] = []
        async with asyncio.timeout(wait):
            while len(taken) < count:
                item = await self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                taken.append(item)
        return taken

    async def headlines(self, count: int, wait: float = 10) -> list[str | None]:
        return [
            e.headline if isinstance(e, Event) else "<reset>" for e in await self.take(count, wait)
        ]

    async def stop(self) -> None:
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


@asynccontextmanager
async def subscribed(events: AsyncIterator[Event | Reset]) -> AsyncIterator[Subscriber]:
    subscriber = Subscriber(events)
    try:
        yield subscriber
    finally:
        await subscriber.stop()


@dataclass
class BlockingProxy:
    """An HTTP proxy on 127.0.0.1 answering 403 to every WebSocket upgrade, as some firewalls do."""

    target_port: int
    blocked: int = 0
    url: str = ""
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if b"\r\nupgrade: websocket" in head.lower():
            self.blocked += 1
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        upstream_writer.write(head)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@asynccontextmanager
async def websocket_blocking_proxy(target_port: int) -> AsyncIterator[BlockingProxy]:
    proxy = BlockingProxy(target_port)
    server = await asyncio.start_server(proxy.accept, "127.0.0.1", 0)
    proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:
        server.close()
        for task in list(proxy._tasks):
            task.cancel()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
        await server.wait_closed()
