"""What every ASGI answer gets at the edge: problem+json errors, relative redirects, nosniff."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import MEDIA_TYPE, Problem

# Enough of a foreign error's text to say what it was, no more.
_MAX_DETAIL = 300


def _relative(location: str, host: str | None) -> str:
    """A redirect to this node's own host, as a path: the Host header is never reflected."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc != host:
        return location
    return parts.path + (f"?{parts.query}" if parts.query else "") or "/"


class EdgeGuard:
    """Rewrites what other layers answer in their own way (Starlette's text/plain 400 for a
    foreign CORS preflight or a bad Host, its trailing-slash redirect built from Host), and
    adds `X-Content-Type-Options: nosniff` to every answer, static files and JSON alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        held: Message | None = None
        body: list[bytes] = []

        async def guarded(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                headers["x-content-type-options"] = "nosniff"
                status = message["status"]
                if 300 <= status < 400 and "location" in headers:
                    headers["location"] = _relative(headers["location"], host)
                message = {**message, "headers": headers.raw}
                if status >= 400 and not headers.get("content-type", "").startswith(MEDIA_TYPE):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._as_problem(held, b"".join(body), scope["method"] == "HEAD", send)
                return
            await send(message)

        await self.app(scope, receive, guarded)

    @staticmethod
    async def _as_problem(start: Message, text: bytes, head_only: bool, send: Send) -> None:
        status = start["status"]
        detail = text.decode("utf-8", "replace").strip()[:_MAX_DETAIL]
        problem = Problem(status, detail or HTTPStatus(status).phrase)
        payload = problem.body()
        headers = MutableHeaders(raw=start["headers"])
        headers["content-type"] = MEDIA_TYPE
        headers["content-length"] = str(len(payload))
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": b"" if head_only else payload})
