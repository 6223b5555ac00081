"""The editors' door: validate, authorise, publish; and the live listing for first paint."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.auth import Editor, Editors, authorize
from service.bodies import json_body
from service.broker.base import (
    AuditNote,
    Broker,
    BrokerUnavailable,
    Draft,
    IdempotencyConflict,
    IdempotencyKey,
    LiveAlert,
    NotReplicated,
    Published,
    RateLimit,
    RateLimited,
    UnknownAlert,
)
from service.config import Settings
from service.events import EventKey, stored_body
from service.metrics import Metrics
from service.models import (
    AlertIn,
    CorrectionIn,
    EventPayload,
    RetractionIn,
)
from service.openapi import IDEMPOTENCY_KEY, REQUEST_ID, Operation, operation
from service.problems import Problem
from service.request_ids import request_id
from service.responses import json_response

log = logging.getLogger("breaking_push.ingest")

_WRITE_ERRORS = (400, 401, 403, 413, 415, 422, 429, 503)
_MAX_IDEMPOTENCY_KEY = 255
# How long a write's answer waits for this node to have the event (its listing, its
# subscribers); the event is stored either way, so past this the 201 goes out regardless.
_SEEN_S = 1.0

M = TypeVar("M", bound=BaseModel)


class Ingest:
    """Publishing routes; every failure is a problem+json answer and publishes nothing."""

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        metrics: Metrics,
        editors: Editors,
        seen: Callable[[EventKey], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._editors = editors
        self._broker = broker
        self._metrics = metrics
        # Returns once this node has dispatched up to an id (the hub's `reached`).
        self._seen = seen

    def routes(self) -> list[Route]:
        return [
            Route("/v1/alerts", self.create, methods=["POST"]),
            Route("/v1/alerts/{alert_id}", self.retract, methods=["DELETE"]),
            Route("/v1/alerts/{alert_id}/corrections", self.correct, methods=["POST"]),
        ]

    @operation(
        Operation(
            "Publish an alert",
            201,
            EventPayload,
            AlertIn,
            errors=_WRITE_ERRORS,
            auth=True,
            tags=("ingest",),
            operation_id="publishAlert",
            headers=(IDEMPOTENCY_KEY, REQUEST_ID),
        )
    )
    async def create(self, request: Request) -> Response:
        editor = await self._editors.authenticate(request)
        alert = await self._body(request, AlertIn, required=True)
        authorize(editor, alert.regions)
        ttl = alert.ttl_seconds or self._settings.default_ttl_seconds
        fields = alert.model_dump(mode="json", exclude={"ttl_seconds"})
        draft = Draft(
            "alert", stored_body({"type": "alert", **fields, "ttl": ttl}), ttl_ms=ttl * 1000
        )
        return await self._publish(request, editor, draft, alert)

    @operation(
        Operation(
            "Correct an alert's headline",
            201,
            EventPayload,
            CorrectionIn,
            errors=(*_WRITE_ERRORS, 404),
            auth=True,
            tags=("ingest",),
            operation_id="correctAlert",
            headers=(IDEMPOTENCY_KEY, REQUEST_ID),
        )
    )
    async def correct(self, request: Request) -> Response:
        return await self._amend(request, "correction", CorrectionIn, status=201)

    @operation(
        Operation(
            "Retract an alert",
            200,
            EventPayload,
            RetractionIn,
            errors=(*_WRITE_ERRORS, 404),
            auth=True,
            tags=("ingest",),
            operation_id="retractAlert",
            headers=(IDEMPOTENCY_KEY, REQUEST_ID),
            body_required=False,
        )
    )
    async def retract(self, request: Request) -> Response:
        return await self._amend(request, "retraction", RetractionIn, status=200)

    async def _amend(
        self,
        request: Request,
        event_type: str,
        model: type[CorrectionIn | RetractionIn],
        status: int,
    ) -> Response:
        """Publish a correction or retraction to exactly the subscribers the alert reached."""
        editor = await self._editors.authenticate(request)
        change = await self._body(request, model, required=model is CorrectionIn)
        alert = (await self._find(request.path_params["alert_id"])).event
        authorize(editor, alert.regions)
        fields = change.model_dump()
        body = {"type": event_type, "alert_id": alert.id, **fields, **_routing(alert.payload)}
        draft = Draft(
            event_type,
            stored_body({**body, "expires_ms": alert.expires_ms}),
            alert_id=alert.id,
            headline=fields.get("headline"),
        )
        return await self._publish(request, editor, draft, change, status=status)

    async def _body(self, request: Request, model: type[M], *, required: bool) -> M:
        context = {
            "regions": self._settings.regions,
            "max_ttl_seconds": self._settings.max_ttl_seconds,
        }
        return await json_body(
            request,
            model,
            limit=self._settings.max_body_bytes,
            context=context,
            what=model.__name__.removesuffix("In").lower(),
            required=required,
        )

    async def _find(self, alert_id: str) -> LiveAlert:
        try:
            alert = await self._broker.alert(alert_id)
        except BrokerUnavailable as exc:
            raise _unavailable(exc) from exc
        if alert is None:
            raise _no_live_alert(alert_id)
        return alert

    async def _publish(
        self,
        request: Request,
        editor: Editor,
        draft: Draft,
        body: BaseModel,
        status: int = 201,
    ) -> Response:
        idempotency = _idempotency(request, editor, body)
        limit = self._settings.publish_rate_per_minute
        rate = RateLimit(editor.name, limit, 60)
        try:
            audit = AuditNote(editor.name, request_id(request))
            published: Published = await self._broker.publish(draft, idempotency, rate, audit)
        except UnknownAlert:
            raise _no_live_alert(draft.alert_id or "") from None
        except RateLimited as limited:
            raise Problem(
                429,
                f"editor {editor.name!r} is over {limit} writes a minute",
                headers={"retry-after": str(max(1, math.ceil(limited.retry_after)))},
            ) from None
        except IdempotencyConflict:
            raise Problem(
                422, "this Idempotency-Key was already used with a different request"
            ) from None
        except BrokerUnavailable as exc:
            raise _unavailable(exc) from exc
        except NotReplicated as exc:
            self._metrics.unreplicated.inc()
            raise _unreplicated(exc, idempotency is not None) from exc
        event = published.event
        # Read your writes: the listing this node serves, and its subscribers, have the event
        # before its editor hears of it (with Redis, one subscription round trip later).
        try:
            async with asyncio.timeout(_SEEN_S):
                await self._seen(event.key)
        except TimeoutError:
            log.warning("%s %s was stored but this node has not seen it yet", event.type, event.id)
        headers = {"location": f"/v1/alerts/{event.alert_id}"}
        if published.replayed:
            headers["idempotent-replayed"] = "true"
        else:
            self._metrics.published.labels(event.type).inc()
            log.info(
                "%s %s by %s to %s", event.type, event.id, editor.name, ",".join(event.regions)
            )
        return json_response(event.payload, status, headers)


def _routing(payload: dict[str, Any]) -> dict[str, Any]:
    """The alert fields a correction or retraction copies, so it reaches the same subscribers."""
    return {k: payload.get(k) for k in ("regions", "language", "category", "priority")}


def _idempotency(request: Request, editor: Editor, body: BaseModel) -> IdempotencyKey | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise Problem(
            400, f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable characters"
        )
    # The same key means the same request: same method, path and (validated) body.
    request_form = f"{request.method} {request.url.path}\n{body.model_dump_json()}"
    digest = hashlib.sha256(request_form.encode())
    return IdempotencyKey(f"{editor.name}:{key}", digest.hexdigest())


def _no_live_alert(alert_id: str) -> Problem:
    return Problem(404, f"no live alert {alert_id!r} (unknown, expired or retracted)")


def _unreplicated(exc: NotReplicated, keyed: bool) -> Problem:
    log.warning("%s %s not confirmed by Redis replicas: %s", exc.event.type, exc.event.id, exc)
    retry = (
        "retry with the same Idempotency-Key: it returns this write without publishing it again"
        if keyed
        else "a retry without an Idempotency-Key publishes it again"
    )
    return Problem(
        503,
        "Redis stored this write but too few replicas confirmed it in time, so a failover "
        f"could lose it; it may already have reached subscribers: {retry}",
        headers={"retry-after": "1"},
    )


def _unavailable(exc: BrokerUnavailable) -> Problem:
    log.warning("broker unavailable: %s", exc)
    return Problem(
        503,
        # Usually nothing was published; but a connection that broke after the request went
        # out (a primary killed mid-reply) leaves it unknown, and the detail must not promise.
        "the broker is unreachable, or failing over: the write was not confirmed; retry "
        "shortly with the same Idempotency-Key, which never publishes twice",
        headers={"retry-after": "1"},
    )
