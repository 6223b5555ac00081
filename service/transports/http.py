"""uvicorn's httptools protocol, taking over the subscribe routes below ASGI on the same port.

Every other route stays ASGI. A subscribe request is parsed by httptools as usual; once its
head is complete the connection is handed to an SSE or WebSocket subscriber protocol object,
so a subscriber costs a protocol object and its transport instead of an ASGI task.
Extends uvicorn internals: uvicorn is pinned, and tests/integration/test_takeover.py covers it.
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.subscribe import SUBSCRIBE_PATHS, Gateway, SubscribeRequest


class BreakingHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that hands `/v1/events` and `/v1/ws` to the subscribe gateway."""

    _takeover: SubscribeRequest | None = None

    def on_headers_complete(self) -> None:
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode("latin-1")
        if path in SUBSCRIBE_PATHS:
            method = self.parser.get_method().decode("ascii")
            self._takeover = SubscribeRequest(
                path, method, self.url, parsed.query or b"", self.headers
            )
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._takeover is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._takeover is None:
            super().on_message_complete()

    def _should_upgrade(self) -> bool:
        return self._takeover is not None or super()._should_upgrade()

    def handle_websocket_upgrade(self) -> None:
        if self._takeover is None:
            super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        request = self._takeover
        if request is None:
            return
        self._takeover = None
        # From here the connection belongs to the subscriber; uvicorn forgets this protocol.
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        gateway: Gateway = self.app_state["gateway"]
        gateway.accept(request, self.transport, self.connections)
