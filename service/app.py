"""create_app(settings) -> Starlette: the routes, and a lifespan that owns broker, hub and gateway."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from importlib.metadata import version
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service import openapi
from service.broker import make_broker
from service.config import Settings
from service.events import Event
from service.hub import Hub
from service.ingest import Ingest
from service.metrics import Metrics
from service.models import SubscribeQuery
from service.ops import Ops
from service.problems import MEDIA_TYPE, Problem
from service.push.component import WebPush
from service.subscribe import SSE_PATH, WS_PATH, Gateway
from service.web.pages import page_routes

log = logging.getLogger("breaking_push.app")

_SUBSCRIBE_DOCS = (
    (
        SSE_PATH,
        openapi.Operation(
            "Subscribe over Server-Sent Events",
            query=SubscribeQuery,
            errors=(400, 503),
            media_type="text/event-stream",
            tags=("subscribe",),
        ),
    ),
    (
        WS_PATH,
        openapi.Operation(
            "Subscribe over WebSocket (upgrade)",
            101,
            query=SubscribeQuery,
            errors=(400, 403, 426, 503),
            tags=("subscribe",),
        ),
    ),
)


def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        exc = Problem(exc.status_code, exc.detail, headers=dict(exc.headers or {}))
    if not isinstance(exc, Problem):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        exc = Problem(500, "internal error; nothing was published")
    return Response(exc.body(), exc.status, exc.headers, media_type=MEDIA_TYPE)


async def _takeover_only(request: Request) -> Response:
    raise Problem(500, "subscribe routes are served by `breaking-push serve`'s protocol layer")


def _documented(routes: list[BaseRoute]) -> Iterator[tuple[str, str, openapi.Operation]]:
    for route in routes:
        if isinstance(route, Route) and route.methods:
            spec = getattr(route.endpoint, "__openapi__", None)
            if spec is not None:
                method = next(m for m in sorted(route.methods) if m != "HEAD")
                yield route.path, method, spec
    for path, spec in _SUBSCRIBE_DOCS:
        yield path, "GET", spec


def create_app(settings: Settings) -> Starlette:
    """Build the node: nothing connects until the lifespan starts."""
    metrics = Metrics()
    broker = make_broker(settings)
    hub = Hub(
        metrics,
        buffer_bytes=settings.subscriber_buffer_bytes,
        replay_cache=settings.replay_cache_size,
    )
    gateway = Gateway(settings, hub, broker)
    metrics.watch(hub.census)
    push = WebPush(settings, metrics)
    routes: list[BaseRoute] = [*Ingest(settings, broker, metrics).routes(), *push.routes()]

    @cache
    def schema() -> dict[str, Any]:
        return openapi.build(_documented(routes), version("breaking-push"))

    routes += Ops(settings, broker, hub, metrics, schema).routes()
    # Reached only under a plain ASGI server; `serve` answers these below ASGI.
    routes += [Route(SSE_PATH, _takeover_only), Route(WS_PATH, _takeover_only)]
    routes += page_routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        def on_event(event: Event) -> None:
            hub.dispatch(event)  # the fan-out first: push only queues after it
            push.offer(event)

        await broker.start(on_event, hub.sync)
        hub.start(settings.heartbeat_seconds)
        await push.start()
        try:
            yield {"gateway": gateway}
        finally:
            hub.stop()
            await push.close()
            await gateway.close()
            await broker.close()

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            max_age=600,
        )
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={Exception: _problem, HTTPException: _problem, Problem: _problem},
    )
