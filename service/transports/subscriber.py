"""What SSE and WebSocket subscribers share: a protocol object that holds its transport."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from service.events import Codec, EventKey
from service.filters import Filter

log = logging.getLogger("breaking_push.transport")


class Roster(Protocol):
    """The part of the hub a subscriber needs: leaving it."""

    def remove(self, sub: Any) -> None: ...


class SubscriberProtocol(asyncio.Protocol):
    """A subscriber connection after the takeover; every exit path removes it from the hub."""

    __slots__ = ("_drained", "connections", "filter", "roster", "transport")

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

    def connection_lost(self, exc: Exception | None) -> None:
        self.roster.remove(self)
        self.connections.discard(self)
        self.resume_writing()

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

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
