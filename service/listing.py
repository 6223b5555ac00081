"""The live-alert listing for a ticker's first paint, served from this node's own view.

After a node restart every client reloads the listing at once. Reading Redis for each would
cost a read and a decode of every live alert per client; instead the node keeps the live
alerts in memory, loaded once at start (and again after a `reset`) and kept current by the
very events it dispatches. Answers are cached per filter until the next event or expiry and
carry an ETag, so a storm of identical requests costs a dictionary lookup each, or a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.broker.base import Broker, BrokerUnavailable, LiveAlert
from service.config import Settings
from service.events import Event
from service.filters import Filter, parse_query
from service.models import AlertList, AlertQuery, ListedAlert
from service.openapi import Operation, operation
from service.problems import Problem
from service.responses import json_response

log = logging.getLogger("breaking_push.listing")
T = TypeVar("T")

# Revalidate on every use: a listing older than the client's subscription would leave a gap
# between the two, so browsers may keep it only with a 304 from this node.
_CACHE_CONTROL = "no-cache"
_MAX_CACHED_ANSWERS = 512
# Expired alerts are skipped when listing and swept from memory every so many events.
_SWEEP_EVERY = 256


@dataclass(frozen=True, slots=True)
class _Answer:
    version: int
    valid_until_ms: float
    body: bytes
    etag: str


class LiveView:
    """The live alerts (newest last), corrections applied, kept current by `apply`."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._alerts: dict[str, LiveAlert] = {}
        self._loaded = False
        # Events applied while a load is in flight, replayed on top of its snapshot.
        self._during_load: list[Event] | None = None
        self._version = 0
        self._answers: dict[tuple[Filter, int], _Answer] = {}
        self._loader: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def apply(self, event: Event) -> None:
        """Keep the view current with one dispatched event."""
        if self._during_load is not None:
            self._during_load.append(event)
        self._apply(event)

    def _apply(self, event: Event) -> None:
        self._version += 1
        if event.type == "alert":
            self._alerts[event.id] = LiveAlert(event, event.payload["headline"])
            if self._version % _SWEEP_EVERY == 0:
                now = _now_ms()
                self._alerts = {k: a for k, a in self._alerts.items() if a.event.expires_ms > now}
        elif event.type == "correction":
            current = self._alerts.get(event.alert_id)
            if current is not None:
                self._alerts[event.alert_id] = LiveAlert(current.event, event.payload["headline"])
        else:
            self._alerts.pop(event.alert_id, None)

    def reload(self) -> None:
        """Load the view afresh in the background (at start, and when events were lost)."""
        if self._loader is None or self._loader.done():
            self._loader = asyncio.create_task(self.load(), name="live-view-load")

    async def load(self) -> None:
        self._during_load = []
        try:
            snapshot = await self._broker.live_alerts()
        except BrokerUnavailable as exc:
            log.warning("live alerts not loaded (%s); the listing reads the broker meanwhile", exc)
            return
        finally:
            applied, self._during_load = self._during_load, None
        self._alerts = {alert.event.id: alert for alert in reversed(snapshot)}
        for event in applied:
            self._apply(event)
        self._version += 1
        self._loaded = True

    async def close(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            await asyncio.gather(self._loader, return_exceptions=True)

    def alert(self, alert_id: str) -> LiveAlert | None:
        alert = self._alerts.get(alert_id)
        if alert is None or alert.event.expires_ms <= _now_ms():
            return None
        return alert

    def answer(self, flt: Filter, limit: int) -> _Answer:
        """The listing's body and ETag for one filter, built once per change of the view."""
        now = _now_ms()
        cached = self._answers.get((flt, limit))
        if cached is not None and cached.version == self._version and now < cached.valid_until_ms:
            return cached
        listed = _newest_first(self._alerts, flt, limit, now)
        body = orjson.dumps({"alerts": [listed_form(alert) for alert in listed]})
        answer = _Answer(
            self._version,
            min((alert.event.expires_ms for alert in listed), default=float("inf")),
            body,
            f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"',
        )
        if len(self._answers) >= _MAX_CACHED_ANSWERS:
            self._answers.clear()
        self._answers[(flt, limit)] = answer
        return answer


def listed_form(alert: LiveAlert) -> dict[str, Any]:
    """A live alert as listed: a corrected one says so and keeps the headline it first ran with."""
    payload = alert.payload()
    original = alert.event.payload.get("headline")
    if original != alert.headline:
        payload |= {"corrected": True, "original_headline": original}
    return payload


def _newest_first(
    alerts: dict[str, LiveAlert], flt: Filter, limit: int, now: int
) -> list[LiveAlert]:
    listed: list[LiveAlert] = []
    for alert in reversed(alerts.values()):
        if alert.event.expires_ms > now and flt.matches(alert.event):
            listed.append(alert)
            if len(listed) == limit:
                break
    return listed


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Listing:
    """`GET /v1/alerts` and `GET /v1/alerts/{id}`: public, from the view once it is loaded."""

    def __init__(self, settings: Settings, broker: Broker, view: LiveView) -> None:
        self._settings = settings
        self._broker = broker
        self._view = view

    def routes(self) -> list[Route]:
        return [
            Route("/v1/alerts", self.listing, methods=["GET"]),
            Route("/v1/alerts/{alert_id}", self.show, methods=["GET"]),
        ]

    @operation(
        Operation(
            "Live alerts, newest first, corrections applied",
            200,
            AlertList,
            query=AlertQuery,
            errors=(400, 503),
            tags=("listing",),
            operation_id="listAlerts",
        )
    )
    async def listing(self, request: Request) -> Response:
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        query = parse_query(AlertQuery, params, self._settings.regions)
        flt = Filter.of(query)
        if not self._view.loaded:
            self._view.reload()
            alerts = await self._from_broker(self._broker.live_alerts())
            payloads = [listed_form(a) for a in alerts if flt.matches(a.event)][: query.limit]
            return json_response({"alerts": payloads}, headers={"cache-control": _CACHE_CONTROL})
        answer = self._view.answer(flt, query.limit)
        headers = {"cache-control": _CACHE_CONTROL, "etag": answer.etag}
        if _matches(request.headers.get("if-none-match"), answer.etag):
            return Response(status_code=304, headers=headers)
        return Response(answer.body, 200, headers, media_type="application/json")

    @operation(
        Operation(
            "One live alert",
            200,
            ListedAlert,
            errors=(404, 503),
            tags=("listing",),
            operation_id="getAlert",
        )
    )
    async def show(self, request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        if self._view.loaded:
            alert = self._view.alert(alert_id)
        else:
            alert = await self._from_broker(self._broker.alert(alert_id))
        if alert is None:
            raise Problem(404, f"no live alert {alert_id!r} (unknown, expired or retracted)")
        return json_response(listed_form(alert))

    @staticmethod
    async def _from_broker(read: Awaitable[T]) -> T:
        try:
            return await read
        except BrokerUnavailable as exc:
            raise Problem(
                503, "the broker is unreachable; retry shortly", headers={"retry-after": "1"}
            ) from exc


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `W/` prefixes do not matter."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))
