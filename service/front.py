"""The protocol every connection starts with: a first request to the subscribe routes is served
here, anything else is handed to uvicorn's protocol with the bytes read so far.

A reconnect storm is thousands of connections whose only request is `GET /v1/events` or
`GET /v1/ws`. Serving those without building uvicorn's per-connection protocol (its parser,
flow control, address lookups, keep-alive state) is most of what makes a connect cheap; the
ASGI routes, and a subscribe request that follows an ASGI one on a keep-alive connection,
are uvicorn's as before (service/takeover.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools

from service import limits
from service.admission import BAD_HEAD, PIPELINED, Admission
from service.subscribe import WS_PATH, SubscribeRequest, subscribe_route
from service.takeover import TakeoverProtocol

_END = b"\r\n\r\n"


class FrontProtocol(Admission, asyncio.Protocol):
    """Admits the connection, reads its first request line, and serves it or hands it on."""

    # Bound per node by front_protocol(): the class for a connection that is not a subscriber.
    asgi: type[TakeoverProtocol]

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # What uvicorn gives its own protocol, passed on if the connection goes to ASGI.
        self._uvicorn = (config, server_state, app_state)
        self.connections: set[Any] = server_state.connections
        self.loop = _loop or asyncio.get_event_loop()
        self._buffer = b""
        self._lease = None
        self._peer = None
        self._refusal = None
        self._head_timer = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        # The subscribe route the request line names, and its query, once the line is read.
        self._path = ""
        self._query = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connections.add(self)
        peer = transport.get_extra_info("peername")
        self._admit(peer[0] if isinstance(peer, tuple) else None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._release()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: a connection still sending its head is closed."""
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._buffer += data
        end = self._buffer.find(_END)
        if self._refusal is not None:
            if end >= 0:
                self._refuse(*self._refusal)
            return
        if end < 0 and len(self._buffer) > self.node.settings.max_header_bytes:
            self._refuse(limits.HEAD_TOO_LARGE, self._head_too_large())
            return
        if not self._path:
            line_end = self._buffer.find(b"\n")
            if line_end < 0:
                return
            # A line not ended by CRLF is not HTTP/1.1 as we read it: uvicorn's parser says why.
            line = self._buffer[:line_end]
            target = _request_target(line[:-1]) if line.endswith(b"\r") else None
            self._path = subscribe_route(target.path) if target is not None else ""
            if not self._path:
                self._hand_to_asgi()
                return
            assert target is not None
            self._query = target.query or b""
        if end >= 0:
            self._serve(end + len(_END))

    def _serve(self, head_end: int) -> None:
        head, rest = self._buffer[:head_end], self._buffer[head_end:]
        self._buffer = b""
        if head_end > self.node.settings.max_header_bytes:
            self._refuse(limits.HEAD_TOO_LARGE, self._head_too_large())
            return
        parser = httptools.HttpRequestParser(self)
        try:
            parser.feed_data(head)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            # A callback that raised Refused reaches here as the parser's callback error.
            self._refuse(*(self._refusal or (limits.BAD_REQUEST, BAD_HEAD)))
            return
        if len(self._headers) > self.node.settings.max_headers:
            # Counted once the head is parsed: its whole size was bounded before the parse.
            self._refuse(limits.TOO_MANY_HEADERS, self._too_many_headers())
            return
        self._admit_client(self._headers)
        if self._refusal is not None:
            self._refuse(*self._refusal)
            return
        path = self._path
        if rest and path != WS_PATH:
            self._answer_and_close(PIPELINED)
            return
        request = SubscribeRequest(
            path,
            parser.get_method().decode("ascii"),
            self._url,
            self._query,
            self._headers,
        )
        self.connections.discard(self)
        if self._subscribe(request, self.connections) and rest:
            # A WebSocket client's first frames, sent before it read the 101.
            subscriber = self.transport.get_protocol()
            assert isinstance(subscriber, asyncio.Protocol)
            subscriber.data_received(rest)

    def _hand_to_asgi(self) -> None:
        """From here uvicorn's protocol speaks the connection, starting with what was read."""
        config, server_state, app_state = self._uvicorn
        protocol = self.asgi(
            config=config, server_state=server_state, app_state=app_state, _loop=self.loop
        )
        deadline = self._head_timer.when() if self._head_timer is not None else None
        self._cancel_head_timer()
        self.connections.discard(self)
        protocol.adopt(self._lease, self._peer, deadline)
        self._lease = None
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        buffered, self._buffer = self._buffer, b""
        protocol.data_received(buffered)

    # -- httptools callbacks, for the subscribe request's head ---------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))


def _request_target(request_line: bytes) -> Any:
    """The parsed target of a request line (httptools' URL), or None if it has none."""
    parts = request_line.split(b" ")
    if len(parts) != 3:
        return None
    try:
        return httptools.parse_url(parts[1])
    except httptools.HttpParserInvalidURLError:
        return None


def front_protocol(asgi: type[TakeoverProtocol]) -> type[FrontProtocol]:
    """The protocol class uvicorn builds per connection, bound to `asgi`'s node."""
    shared = {"node": asgi.node, "limits": asgi.limits, "refusals": asgi.refusals, "asgi": asgi}
    return type("NodeFrontProtocol", (FrontProtocol,), shared)
