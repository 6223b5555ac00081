"""Server-Sent Events: the `text/event-stream` encoding and its subscribers."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson

from service.events import Event, EventKey, format_id
from service.filters import Filter
from service.transports.http import http_head
from service.transports.subscriber import Roster, SubscriberProtocol

# A field block with no data dispatches nothing but shortens the client's reconnect delay.
_SHUTDOWN = b"retry: 500\n\n"
_NO_POSITION: EventKey = (0, 0)


class SseCodec:
    """`id:`, `event:` and `data:` lines: the event's id is the client's resume point."""

    name = "sse"
    slot = 0

    def encode(self, event: Event) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (
            event.id.encode(),
            event.type.encode(),
            event.data,
        )


SSE = SseCodec()


def sse_control(event: str, data: dict[str, Any]) -> bytes:
    """A non-alert SSE event (`reset`) with no id, so it never moves the client's position."""
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps(data))


_RESET = sse_control("reset", {})


def sse_heartbeat(every_s: float) -> bytes:
    """A named event, not a comment, so page JavaScript can see the connection is alive."""
    return sse_control("heartbeat", {"every": every_s})


@functools.lru_cache(maxsize=256)
def _sse_head(retry_ms: int, extra: tuple[tuple[str, str], ...]) -> bytes:
    headers = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("connection", "close"),
        *extra,
    ]
    return http_head(200, headers) + b"retry: %d\n\n" % retry_ms


def sse_head(retry_ms: int, extra: list[tuple[str, str]]) -> bytes:
    """The response head and `retry:` hint; the body is close-delimited, one write per event.

    Made once per distinct CORS answer: a reconnect storm's heads are all alike."""
    return _sse_head(retry_ms, tuple(extra))


class SseSubscriber(SubscriberProtocol):
    """One EventSource (or curl -N): nothing to read, only events to write."""

    __slots__ = ("_heartbeat",)

    codec = SSE

    def __init__(
        self,
        roster: Roster,
        flt: Filter,
        transport: asyncio.Transport,
        connections: set[Any],
        *,
        heartbeat: bytes,
    ) -> None:
        super().__init__(roster, flt, transport, connections)
        self._heartbeat = heartbeat

    def data_received(self, data: bytes) -> None:
        """A subscriber has nothing to say after its request; anything more is ignored."""

    def live_marker(self, position: EventKey) -> bytes:
        # A bare `id:` sets EventSource.lastEventId without an event, so a client that
        # has seen nothing yet still resumes from here after a reconnect.
        if position == _NO_POSITION:
            return b""
        return b"id: %s\n\n" % format_id(position).encode()

    def send_reset(self) -> None:
        self.send(_RESET)

    def heartbeat(self, now: float) -> None:
        self.send(self._heartbeat)

    def shutdown(self) -> None:
        self.transport.write(_SHUTDOWN)
        self.transport.close()
