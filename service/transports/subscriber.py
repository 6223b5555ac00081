"""What SSE and WebSocket subscribers share: a protocol object that holds its transport."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from service.events import Codec, EventKey
from service.filters import Filter

log = logging.getLogger("breaking_push.transport")


class Roster(Protocol):
    """The part of the hub a subscriber needs: leaving it, and the per-connection write bound."""

    @property
    def buffer_bytes(self) -> int: ...

    def remove(self, sub: Any) -> None: ...


class SubscriberProtocol(asyncio.Protocol):
    """A subscriber connection after the takeover; every exit path removes it from the hub.

    Write bound: every write (events, replays, pongs, error frames, heartbeats) is refused
    once the transport holds more than the roster's `buffer_bytes`, and the subscriber is
    dropped; while the buffer is over its high-water mark the client is not read from, so a
    client that sends without reading cannot make the node buffer replies for it.
    """

    __slots__ = (
        "_drained",
        "_paused_at",
        "connections",
        "filter",
        "on_close",
        "roster",
        "transport",
        "writing_paused",
    )

    codec: Codec

    def __init__(
        self, roster: Roster, flt: Filter, transport: asyncio.Transport, connections: set[Any]
    ) -> None:
        self.roster = roster
        self.filter = flt
        self.transport = transport
        # uvicorn's connection set: its graceful shutdown calls shutdown() on each member.
        self.connections = connections
        connections.add(self)
        # Set only while the transport's buffer is over its high-water mark.
        self._drained: asyncio.Future[None] | None = None
        self._paused_at = 0.0
        # The hub reads the buffer's size only while this is set, so the transport must pause
        # at or below the hub's bound (a bound under the default high-water mark moves it).
        self.writing_paused = False
        if roster.buffer_bytes < transport.get_write_buffer_limits()[1]:
            transport.set_write_buffer_limits(high=roster.buffer_bytes)
        # Called once the connection is gone: it frees the connection's place in the caps.
        self.on_close: Callable[[], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.roster.remove(self)
        self.connections.discard(self)
        self.resume_writing()
        if self.on_close is not None:
            self.on_close()
            self.on_close = None

    def pause_writing(self) -> None:
        self.writing_paused = True
        loop = asyncio.get_running_loop()
        self._drained = loop.create_future()
        self._paused_at = time.monotonic()
        # Replies the client does not read are not produced: stop reading what it sends.
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        drained, self._drained = self._drained, None
        if drained is None:
            return
        if not drained.done():
            drained.set_result(None)
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def within_bound(self) -> bool:
        """False, having dropped the client, once its buffer is over the bound or it is closed."""
        if self.transport.is_closing():
            return False
        buffered = self.transport.get_write_buffer_size()
        if buffered > self.roster.buffer_bytes:
            self.drop(f"it does not read what it is sent ({buffered} bytes buffered)")
            return False
        return True

    def send(self, data: bytes) -> None:
        """Write `data` unless the client stopped reading: over the bound, drop it instead."""
        if self.within_bound():
            self.transport.write(data)

    def stalled_for(self, now: float) -> float:
        """Seconds the buffer has been over its high-water mark (0 when it is not)."""
        return now - self._paused_at if self._drained is not None else 0.0

    async def writable(self) -> None:
        """Wait until the transport's buffer is back under its low-water mark (or closed)."""
        if self._drained is not None:
            await asyncio.shield(self._drained)

    def eof_received(self) -> bool:
        return False

    def drop(self, reason: str) -> None:
        peer = self.transport.get_extra_info("peername")
        log.warning("subscriber %s disconnected: %s; it can resume by event id", peer, reason)
        # Out of the index now: connection_lost comes a loop iteration later, and events
        # dispatched before then must not be written to an aborted transport.
        self.roster.remove(self)
        self.transport.abort()

    def live_marker(self, position: EventKey) -> bytes:
        """The bytes that tell the client replay is over and where live delivery starts."""
        raise NotImplementedError

    def send_reset(self) -> None:
        raise NotImplementedError

    def heartbeat(self, now: float) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """The node is stopping: tell the client to come back soon, then close."""
        raise NotImplementedError
