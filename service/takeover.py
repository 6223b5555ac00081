"""uvicorn's httptools protocol, serving the ASGI routes and taking over a subscribe request that
follows an ASGI request on a keep-alive connection.

A connection starts with the front protocol (service/front.py), which serves a first request
to the subscribe routes itself and hands every other connection here with the bytes it read.
A subscribe request that arrives here is parsed by httptools as usual; once its head is
complete, and no earlier request on the connection is still being answered, the connection is
handed to the gateway, which turns it into an SSE or WebSocket subscriber protocol object.

Both protocols admit connections the same way (service/admission.py): uvicorn's httptools
protocol has none of the caps or head bounds (its h11 limits do not apply here), and every
answer written at this layer is problem+json, never uvicorn's plain-text 400.

This extends uvicorn's private interface: uvicorn and httptools are pinned, and
tests/integration/test_takeover.py checks the versions and every private name used here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service import limits
from service.admission import BAD_HEAD, PIPELINED, Admission, Refused
from service.limits import ConnectionLimits, Lease, RefusalLog
from service.node import Node
from service.problems import Problem
from service.subscribe import SubscribeRequest, subscribe_route
from service.transports.http import problem_response

_NO_WEBSOCKET = Problem(404, "no WebSocket here: subscribers use /v1/ws")


class TakeoverProtocol(Admission, HttpToolsProtocol):
    """HttpToolsProtocol that admits connections and hands the subscribe routes to the gateway."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._takeover: SubscribeRequest | None = None
        self._pipelined = False
        self._lease = None
        self._peer = None
        self._refusal = None
        self._in_head = False
        self._head_bytes = 0
        self._head_wire = 0
        self._header_count = 0
        self._head_timer = None
        self._adopted: float | None = None

    # -- admission ---------------------------------------------------------------------------

    def adopt(self, lease: Lease | None, peer: str | None, deadline: float | None) -> None:
        """Take over a connection the front admitted, with its lease and its head's deadline."""
        self._lease, self._peer = lease, peer
        self._adopted = deadline if deadline is not None else self.loop.time()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._adopted is None:
            self._admit(self.client[0] if self.client else None)
        else:
            self._arm_head_timer(max(self._adopted - self.loop.time(), 0.0))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._release()

    def _refuse(self, reason: str, problem: Problem) -> None:
        self._takeover = None
        super()._refuse(reason, problem)

    def send_400_response(self, msg: str) -> None:
        # uvicorn writes text/plain here; every answer of the node is problem+json. A parser
        # callback that refused the request (Refused) left its reason in _refusal.
        self._refuse(*(self._refusal or (limits.BAD_REQUEST, BAD_HEAD)))

    def _head_expired(self) -> None:
        if self._refusal is None and self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being written: an answer now would
            # land inside that response. The head's clock restarts when it is done.
            self._head_timer = None
            self._arm_head_timer(self.node.settings.head_timeout_seconds)
            return
        super()._head_expired()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.node.settings.max_header_bytes:
            self._head_limit(limits.HEAD_TOO_LARGE, self._head_too_large())

    # -- parser callbacks: while a subscribe request waits, later requests are not served --

    def on_message_begin(self) -> None:
        if self._takeover is not None:
            # A request pipelined after a subscribe request: its answer would land inside the
            # endless event stream. The subscribe request is refused instead (see below).
            self._pipelined = True
            # Its head is never parsed into anything, but its bytes count against the limit.
            self._in_head = True
            self._head_wire = 0
            return
        self._in_head = True
        self._head_bytes = self._head_wire = self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer(self.node.settings.head_timeout_seconds)
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        # The pipelined request's callbacks would otherwise append to the subscribe request.
        if not self._pipelined:
            self._count_head(len(url))
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._pipelined:
            self._count_header()
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._pipelined:
            return
        self._in_head = False
        if self._refusal is None:
            self._cancel_head_timer()
        self._admit_client(self.headers)
        if self._refusal is not None:
            raise Refused
        parsed = httptools.parse_url(self.url)
        # /v1/%65vents is taken over too instead of reaching the ASGI placeholder.
        path = subscribe_route(parsed.path)
        if path:
            method = self.parser.get_method().decode("ascii")
            self._takeover = SubscribeRequest(
                path, method, self.url, parsed.query or b"", self.headers
            )
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        # A subscribe request's body (there should be none) has no cycle to go to.
        if self._takeover is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._takeover is None:
            super().on_message_complete()

    # -- upgrade: a WebSocket subscribe request is not uvicorn's to upgrade ------------------

    def _should_upgrade(self) -> bool:
        # httptools stops at an Upgrade head; claiming it keeps uvicorn from refusing it.
        return self._takeover is not None or super()._should_upgrade()

    def handle_websocket_upgrade(self) -> None:
        if self._takeover is None:
            # The ASGI app has no WebSocket route, and uvicorn would refuse the upgrade with a
            # bodiless text/plain 403: answer where the WebSocket is instead.
            self.transport.write(problem_response(_NO_WEBSOCKET))
            self.transport.close()

    # -- the hand-off --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        # httptools buffers a header field until it ends, so one endless field would grow
        # without bound before on_header could count it: count the bytes as they arrive.
        if self._in_head and self._head_wire > self.node.settings.max_header_bytes:
            self._refuse(limits.HEAD_TOO_LARGE, self._head_too_large())
            return
        super().data_received(data)
        if self._in_head:
            self._head_wire += len(data)
        if self._takeover is not None and self._idle():
            self._hand_off()

    def on_response_complete(self) -> None:
        # An earlier request on this connection finished: a waiting subscribe may go now.
        super().on_response_complete()
        if self._takeover is not None and self._idle() and not self.transport.is_closing():
            self._hand_off()

    def _idle(self) -> bool:
        """No earlier request is still being answered, or queued to be."""
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _hand_off(self) -> None:
        request, self._takeover = self._takeover, None
        assert request is not None
        if self._pipelined:
            self._answer_and_close(PIPELINED)
            return
        # From here the connection belongs to a subscriber; uvicorn forgets this protocol.
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        self._subscribe(request, self.connections)


def takeover_protocol(node: Node) -> type[TakeoverProtocol]:
    """uvicorn's protocol class for the ASGI routes, bound to `node` (uvicorn takes a class)."""
    node.takeover_installed = True
    shared = {"node": node, "limits": ConnectionLimits.of(node.settings), "refusals": RefusalLog()}
    return type("NodeTakeoverProtocol", (TakeoverProtocol,), shared)
