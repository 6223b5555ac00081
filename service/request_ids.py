"""Every write carries a request id: the client's `X-Request-ID` if it is sane, else a new one.

It ties an editor's request to its audit entry and log line, and is echoed on the response.
"""

from __future__ import annotations

import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_MAX_LENGTH = 128
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_id(request: Request) -> str:
    """The id `RequestIds` gave this request."""
    given: str = request.scope["state"]["request_id"]
    return given


def _sane(value: str) -> bool:
    return 0 < len(value) <= _MAX_LENGTH and value.isascii() and value.isprintable()


class RequestIds:
    """ASGI middleware: ids for writes, echoed on every answer to them, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self._app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER)
        rid = given if given is not None and _sane(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        await self._app(scope, receive, echo)
