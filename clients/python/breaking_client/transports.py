"""WebSocket and SSE, each read into the same `Frame`s so the client's logic exists once."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from httpx_sse import SSEError, aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus

from breaking_client.errors import ApiError, ServiceUnavailableError, api_error

Transport = Literal["websocket", "sse"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One thing the server said, whichever transport carried it."""

    # The three event types, `reset`, `ready` (WebSocket: live from `id`), `error`, and two the
    # transports add: `open` (the stream is up) and `position` (SSE's id-only marker).
    kind: str
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class WebSocketRefusedError(ServiceUnavailableError):
    """The server was reached but spoke no WebSocket back: a reason to fall back to SSE."""


class WebSocketBlockedError(ApiError):
    """The upgrade got a 4xx without problem+json: a proxy or firewall, not breaking-push."""


def _is_verdict(status: int) -> bool:
    """4xx answers are final, except 408 and 429, which a later retry may pass."""
    return 400 <= status < 500 and status not in (408, 429)


def _raise_for_status(status: int, reason: str, body: bytes, retry_after: str | None) -> None:
    error = api_error(status, reason, body, retry_after)
    if _is_verdict(status):
        raise error
    raise ServiceUnavailableError(str(error)) from error


async def websocket_frames(
    ws_url: str, query: Mapping[str, str], *, open_timeout: float
) -> AsyncGenerator[Frame, None]:
    """Frames of one WebSocket connection to `/v1/ws`, until it closes."""
    uri = f"{ws_url}/v1/ws?{urlencode(query)}"
    try:
        async with connect(uri, open_timeout=open_timeout) as ws:
            yield Frame("open")
            async for message in ws:
                frame = json.loads(message)
                yield Frame(frame["event"], frame.get("id"), frame.get("data") or {})
    except InvalidStatus as exc:
        response = exc.response
        body = bytes(response.body or b"")
        status, retry_after = response.status_code, response.headers.get("Retry-After")
        problem = response.headers.get("Content-Type", "").startswith("application/problem+json")
        if _is_verdict(status) and not problem:
            raise WebSocketBlockedError(
                api_error(status, response.reason_phrase, body).problem
            ) from exc
        _raise_for_status(status, response.reason_phrase, body, retry_after)
    except (InvalidHandshake, TimeoutError) as exc:
        raise WebSocketRefusedError(
            f"WebSocket handshake failed: {exc or type(exc).__name__}"
        ) from exc
    except (OSError, ConnectionClosedError) as exc:
        raise ServiceUnavailableError(
            f"WebSocket connection lost: {exc or type(exc).__name__}"
        ) from exc


async def sse_frames(
    http: httpx.AsyncClient,
    query: Mapping[str, str],
    *,
    last_event_id: str | None,
    read_timeout: float,
) -> AsyncGenerator[Frame, None]:
    """Frames of one SSE response from `/v1/events`, until it ends."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    timeout = httpx.Timeout(http.timeout.connect, read=read_timeout)
    try:
        async with aconnect_sse(
            http, "GET", "/v1/events", params=dict(query), headers=headers, timeout=timeout
        ) as source:
            response = source.response
            if response.status_code != 200:
                body = await response.aread()
                status, reason = response.status_code, response.reason_phrase
                _raise_for_status(status, reason, body, response.headers.get("Retry-After"))
            yield Frame("open")
            async for sse in source.aiter_sse():
                if sse.data:
                    yield Frame(sse.event, sse.id or None, json.loads(sse.data))
                elif sse.id:
                    yield Frame("position", sse.id)
    except (httpx.TransportError, SSEError) as exc:
        raise ServiceUnavailableError(f"SSE connection lost: {exc or type(exc).__name__}") from exc
