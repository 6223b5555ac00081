"""`BreakingClient`: follow the live events with resume and backoff, and publish as an editor."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any, Literal

import httpx

from breaking_client.errors import ApiError, ServiceUnavailableError, api_error
from breaking_client.models import (
    AlertList,
    Category,
    Event,
    EventKey,
    Language,
    Meta,
    Priority,
    Problem,
    Reset,
    event_key,
)
from breaking_client.transports import (
    Frame,
    Transport,
    WebSocketBlockedError,
    WebSocketRefusedError,
    sse_frames,
    websocket_frames,
)

logger = logging.getLogger("breaking_client")

_EVENT_TYPES = frozenset({"alert", "correction", "retraction"})


class BreakingClient:
    """One breaking-push service: `events()` for apps; `publish()`, `correct()`, `retract()` too.

    Use it as `async with BreakingClient(url) as client:` so its HTTP connections are closed.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: Literal["auto", "websocket", "sse"] = "auto",
        timeout: float = 10.0,
        heartbeat_timeout: float = 45.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self._ws_url = "ws" + self.url.removeprefix("http")
        self._token = token
        self._transport = transport
        self._timeout = timeout
        # The server sends a heartbeat every 15 s by default; three missed ones mean a dead link.
        self._heartbeat_timeout = heartbeat_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> BreakingClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def events(
        self,
        *,
        regions: Sequence[str] | None = None,
        language: Language | None = None,
        category: Category | None = None,
        priority: Priority | None = None,
        last_event_id: str | None = None,
    ) -> AsyncIterator[Event | Reset]:
        """Every matching event from `last_event_id` (or from now) on, forever, each exactly once.

        Reconnects with exponential backoff and full jitter, resuming after the last event seen.
        Yields `Reset` when the server no longer holds that point: reload `live_alerts()` then.
        Raises `ApiError` if the server rejects the filters.
        """
        query = _filters(regions=regions, language=language, category=category, priority=priority)
        position = _Position(last_event_id)
        transport: Transport = "sse" if self._transport == "sse" else "websocket"
        websocket_opened = False
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with aclosing(self._frames(transport, query, position.resume)) as frames:
                    async for frame in frames:
                        if frame.kind == "open":
                            logger.info("live over %s from %s", transport, self.url)
                            attempt = 0
                            websocket_opened |= transport == "websocket"
                        elif (delivery := position.apply(frame)) is not None:
                            yield delivery
                reason = "the server closed the stream"
            except (WebSocketBlockedError, WebSocketRefusedError) as exc:
                if self._transport == "auto" and transport == "websocket" and not websocket_opened:
                    logger.warning("WebSocket unavailable (%s); falling back to SSE", exc)
                    transport = "sse"
                    continue
                if isinstance(exc, ApiError):
                    raise
                reason = str(exc)
            except ServiceUnavailableError as exc:
                reason = str(exc)
                retry_after = _retry_after(exc)
            delay = max(self._backoff(attempt), retry_after or 0.0)
            attempt += 1
            logger.warning("%s; reconnecting in %.1f s", reason, delay)
            await asyncio.sleep(delay)

    def _frames(
        self, transport: Transport, query: dict[str, str], resume: str | None
    ) -> AsyncGenerator[Frame, None]:
        if transport == "websocket":
            ws_query = query | ({"last_event_id": resume} if resume else {})
            return websocket_frames(self._ws_url, ws_query, open_timeout=self._timeout)
        return sse_frames(
            self._http, query, last_event_id=resume, read_timeout=self._heartbeat_timeout
        )

    def _backoff(self, attempt: int) -> float:
        """Full jitter, uniform in [0, min(max, base * 2^n)]: a restarted node is not stampeded."""
        return random.uniform(0, min(self._backoff_max, self._backoff_base * 2**attempt))

    async def live_alerts(
        self,
        *,
        regions: Sequence[str] | None = None,
        language: Language | None = None,
        category: Category | None = None,
        priority: Priority | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The live alerts (corrections applied, retracted and expired ones gone), newest first.

        Takes the same filters as `events()`, so a first paint matches the stream that follows.
        """
        params = _filters(regions=regions, language=language, category=category, priority=priority)
        if limit is not None:
            params["limit"] = str(limit)
        body = await self._request("GET", "/v1/alerts", params=params)
        return AlertList.model_validate_json(body).alerts

    async def meta(self) -> Meta:
        """The service's regions (with display names), languages, categories and priorities."""
        return Meta.model_validate_json(await self._request("GET", "/v1/meta"))

    async def publish(
        self,
        headline: str,
        *,
        regions: Sequence[str],
        language: Language,
        category: Category | None = None,
        priority: Priority | None = None,
        source: str | None = None,
        url: str | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        """Publish one alert; a retry with the same `idempotency_key` publishes nothing new."""
        fields: dict[str, Any] = {
            "headline": headline,
            "regions": list(regions),
            "language": language,
            "category": category,
            "priority": priority,
            "source": source,
            "url": url,
            "ttl_seconds": ttl_seconds,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {name: value for name, value in fields.items() if value is not None}
        return await self._event_request("POST", "/v1/alerts", body, headers)

    async def correct(self, alert_id: str, headline: str) -> Event:
        """Give an earlier alert a new headline; the correction reaches the alert's subscribers."""
        return await self._event_request(
            "POST", f"/v1/alerts/{alert_id}/corrections", {"headline": headline}
        )

    async def retract(self, alert_id: str, reason: str | None = None) -> Event:
        """Withdraw an alert that was wrong; tickers remove it."""
        body = {"reason": reason} if reason is not None else None
        return await self._event_request("DELETE", f"/v1/alerts/{alert_id}", body)

    async def _event_request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> Event:
        auth = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        answer = await self._request(method, path, json=body, headers=auth | (headers or {}))
        return Event.model_validate_json(answer)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        try:
            response = await self._http.request(
                method, path, params=params, json=json, headers=headers
            )
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"{self.url} unreachable: {exc or type(exc).__name__}"
            ) from exc
        if response.is_error:
            retry_after = response.headers.get("Retry-After")
            raise api_error(
                response.status_code, response.reason_phrase, response.content, retry_after
            )
        return response.content


class _Position:
    """Where a subscription stands: the id to resume after, and the last event delivered."""

    def __init__(self, last_event_id: str | None) -> None:
        self.resume = last_event_id
        self._last_seen: EventKey | None = event_key(last_event_id) if last_event_id else None

    def apply(self, frame: Frame) -> Event | Reset | None:
        """Move along with one frame; returns what the app should get, if anything."""
        if frame.kind in _EVENT_TYPES:
            event = Event.model_validate(frame.data)
            if self._last_seen is not None and event.key <= self._last_seen:
                return None  # already delivered: a replay overlapping what was seen
            self._last_seen, self.resume = event.key, event.id
            return event
        if frame.kind == "reset":
            # The server goes live from now: older ids mean nothing any more.
            self._last_seen, self.resume = None, frame.id
            return Reset()
        if frame.kind in ("ready", "position"):
            # Live from here: everything before it that matched was delivered.
            self.resume = frame.id or self.resume
        elif frame.kind == "error":
            raise ApiError(Problem.model_validate(frame.data))
        return None


def _filters(
    *,
    regions: Sequence[str] | None = None,
    language: str | None = None,
    category: str | None = None,
    priority: str | None = None,
) -> dict[str, str]:
    """The subscribe query, the same on both transports; absent filters match everything."""
    given = {"language": language, "category": category, "priority": priority}
    query = {name: value for name, value in given.items() if value}
    if regions:
        query["region"] = ",".join(regions)
    return query


def _retry_after(exc: ServiceUnavailableError) -> float | None:
    """A 429's Retry-After, carried as the outage's cause."""
    cause = exc.__cause__
    return cause.retry_after if isinstance(cause, ApiError) else None
