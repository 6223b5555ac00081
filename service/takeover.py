"""uvicorn's httptools protocol, taking over the subscribe routes below ASGI on the same port.

Every other route stays ASGI. A subscribe request is parsed by httptools as usual; once its
head is complete, and no earlier request on the connection is still being answered, the
connection is handed to the gateway, which turns it into an SSE or WebSocket subscriber
protocol object: a subscriber costs that object and its transport instead of an ASGI task.

This extends uvicorn's private interface: uvicorn and httptools are pinned, and
tests/integration/test_takeover.py checks the versions and every private name used here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.node import Node
from service.problems import Problem
from service.subscribe import SUBSCRIBE_PATHS, SubscribeRequest
from service.transports.http import problem_response

_PIPELINED = Problem(
    400,
    "nothing may follow a subscribe request on its connection: the response never ends",
)


class TakeoverProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that hands `/v1/events` and `/v1/ws` to the node's gateway."""

    node: Node  # bound by takeover_protocol()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._takeover: SubscribeRequest | None = None
        self._pipelined = False

    # -- parser callbacks: while a subscribe request waits, later requests are not served --

    def on_message_begin(self) -> None:
        if self._takeover is not None:
            # A request pipelined after a subscribe request: its answer would land inside the
            # endless event stream. The subscribe request is refused instead (see below).
            self._pipelined = True
            return
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        # The pipelined request's callbacks would otherwise append to the subscribe request.
        if not self._pipelined:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._pipelined:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._pipelined:
            return
        parsed = httptools.parse_url(self.url)
        # Compare the path as uvicorn routes it (percent-decoded), so /v1/%65vents is taken
        # over too instead of reaching the ASGI placeholder.
        path = unquote(parsed.path.decode("latin-1"))
        if path in SUBSCRIBE_PATHS:
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
            super().handle_websocket_upgrade()

    # -- the hand-off --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
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
        # From here the connection belongs to a subscriber; uvicorn forgets this protocol.
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        if self._pipelined:
            self.transport.write(problem_response(_PIPELINED))
            self.transport.close()
            return
        self.node.gateway.accept(request, self.transport, self.connections)


def takeover_protocol(node: Node) -> type[TakeoverProtocol]:
    """The `http` protocol class for uvicorn, bound to `node` (uvicorn takes a class)."""
    node.takeover_installed = True
    return type("NodeTakeoverProtocol", (TakeoverProtocol,), {"node": node})
