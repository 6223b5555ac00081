"""`GET /v1/push/key`, `POST`/`DELETE /v1/push/subscriptions` and the service worker script."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.bodies import json_body
from service.config import Settings
from service.openapi import Operation, operation
from service.problems import Problem
from service.push.keys import VapidKeys
from service.push.models import (
    PushKey,
    PushSubscriptionOut,
    PushTarget,
    SubscribeIn,
    UnsubscribeIn,
)
from service.push.store import PushBackendError, PushStore
from service.responses import json_response

M = TypeVar("M", bound=BaseModel)

_MAX_BODY = 8 * 1024
# The per-IP windows are bounded: past this many addresses the oldest window is forgotten.
_MAX_TRACKED_IPS = 100_000
_WORKER = Path(__file__).resolve().parents[1] / "web" / "static" / "push-sw.js"
_ERRORS = (400, 404, 413, 415, 422, 429, 503)


class PerIpLimit:
    """At most `limit` calls a minute per client address, in fixed one-minute windows."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, address: str) -> None:
        now = time.monotonic()
        start, count = self._windows.pop(address, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        self._windows[address] = (start, count + 1)
        if len(self._windows) > _MAX_TRACKED_IPS:
            del self._windows[next(iter(self._windows))]
        if count + 1 > self._limit:
            wait = max(1, math.ceil(start + 60 - now))
            raise Problem(
                429,
                f"over {self._limit} push subscription calls a minute from this address",
                headers={"retry-after": str(wait)},
            )


class PushRoutes:
    """The browser's side of Web Push; every route answers 404 while push is off."""

    def __init__(self, settings: Settings, keys: VapidKeys | None, store: PushStore | None) -> None:
        self._settings = settings
        self._keys = keys
        self._store = store
        self._limit = PerIpLimit(settings.push_subscribe_rate_per_minute)
        self._worker_js = _WORKER.read_bytes()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/push/key", self.key, methods=["GET"]),
            Route("/v1/push/subscriptions", self.subscribe, methods=["POST"]),
            Route("/v1/push/subscriptions", self.unsubscribe, methods=["DELETE"]),
            # At the root so its scope covers every page of the node.
            Route("/push-sw.js", self.service_worker, methods=["GET"]),
        ]

    def _enabled(self) -> tuple[VapidKeys, PushStore]:
        if self._keys is None or self._store is None:
            raise Problem(
                404,
                "Web Push is off on this node: the operator sets BREAKING_VAPID_PRIVATE_KEY "
                "and BREAKING_VAPID_SUBJECT to turn it on",
            )
        return self._keys, self._store

    @operation(
        Operation(
            "The VAPID public key",
            200,
            PushKey,
            errors=(404,),
            tags=("push",),
            operation_id="getPushKey",
        )
    )
    async def key(self, request: Request) -> Response:
        keys, _ = self._enabled()
        return json_response({"public_key": keys.public_key}, headers={"cache-control": "no-cache"})

    @operation(
        Operation(
            "Subscribe a browser to push notifications (idempotent by endpoint)",
            201,
            PushSubscriptionOut,
            SubscribeIn,
            errors=_ERRORS,
            tags=("push",),
            operation_id="subscribePush",
        )
    )
    async def subscribe(self, request: Request) -> Response:
        _, store = self._enabled()
        self._limit.check(_address(request))
        target = PushTarget.of(await self._body(request, SubscribeIn))
        try:
            new = await store.add(target)
        except PushBackendError as exc:
            raise _unavailable() from exc
        return json_response(target.describe(), 201 if new else 200)

    @operation(
        Operation(
            "Unsubscribe an endpoint (idempotent)",
            204,
            None,
            UnsubscribeIn,
            errors=_ERRORS,
            tags=("push",),
            operation_id="unsubscribePush",
        )
    )
    async def unsubscribe(self, request: Request) -> Response:
        _, store = self._enabled()
        self._limit.check(_address(request))
        body = await self._body(request, UnsubscribeIn)
        try:
            await store.remove(body.endpoint)
        except PushBackendError as exc:
            raise _unavailable() from exc
        return Response(status_code=204)

    async def service_worker(self, request: Request) -> Response:
        return Response(
            self._worker_js,
            media_type="text/javascript",
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )

    async def _body(self, request: Request, model: type[M]) -> M:
        context = {"regions": self._settings.regions, "allow_http": self._settings.push_allow_http}
        return await json_body(
            request, model, limit=_MAX_BODY, context=context, what="push subscription"
        )


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _unavailable() -> Problem:
    return Problem(
        503,
        "the subscription store is unreachable; nothing was changed, retry shortly",
        headers={"retry-after": "1"},
    )
