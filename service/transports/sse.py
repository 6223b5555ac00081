"""Server-Sent Events: `text/event-stream` subscribers."""

from __future__ import annotations

from service.events import EventKey, format_id, sse_control
from service.hub import NO_POSITION, SSE
from service.transports.subscriber import SubscriberProtocol
from service.transports.wire import http_head

_HEARTBEAT = b":\n\n"
_RESET = sse_control("reset", {})
# A field block with no data dispatches nothing but shortens the client's reconnect delay.
_SHUTDOWN = b"retry: 500\n\n"


def sse_head(retry_ms: int, extra: list[tuple[str, str]]) -> bytes:
    """The response head and `retry:` hint; the body is close-delimited, one write per event."""
    headers = [
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("connection", "close"),
        *extra,
    ]
    return http_head(200, headers) + b"retry: %d\n\n" % retry_ms


class SseSubscriber(SubscriberProtocol):
    """One EventSource (or curl -N): nothing to read, only events to write."""

    __slots__ = ()

    kind = SSE

    def data_received(self, data: bytes) -> None:
        """A subscriber has nothing to say after its request; anything more is ignored."""

    def live_marker(self, position: EventKey) -> bytes:
        # A bare `id:` sets EventSource.lastEventId without an event, so a client that
        # has seen nothing yet still resumes from here after a reconnect.
        if position == NO_POSITION:
            return b""
        return b"id: %s\n\n" % format_id(position).encode()

    def send_reset(self) -> None:
        self.transport.write(_RESET)

    def heartbeat(self, now: float) -> None:
        self.transport.write(_HEARTBEAT)

    def shutdown(self) -> None:
        self.transport.write(_SHUTDOWN)
        self.transport.close()
