"""create_app(settings) -> Starlette: the node's routes, and a lifespan that starts and stops it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from importlib.metadata import version
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service import openapi
from service.audit import AuditTrail
from service.auth import Editors
from service.config import Settings
from service.guards import EdgeGuard
from service.ingest import Ingest
from service.limits import SIGNIN_THROTTLED, RefusalLog
from service.listing import Listing
from service.meta import meta_routes
from service.models import SubscribeQuery
from service.node import Node
from service.ops import Ops
from service.problems import Problem
from service.request_ids import HEADER as REQUEST_ID
from service.request_ids import RequestIds
from service.responses import problem_response
from service.subscribe import SSE_PATH, WS_PATH
from service.throttle import SignInThrottleMiddleware
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
            operation_id="subscribeEvents",
            headers=(openapi.LAST_EVENT_ID,),
            description=openapi.SSE_EVENTS,
            mentions=(openapi.ResetData, openapi.HeartbeatData),
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
            operation_id="subscribeWebSocket",
            headers=(openapi.LAST_EVENT_ID,),
            description=openapi.WS_FRAMES,
            mentions=(openapi.ServerFrame, openapi.SubscribeOp),
        ),
    ),
)


def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        exc = Problem(exc.status_code, exc.detail, headers=dict(exc.headers or {}))
    if not isinstance(exc, Problem):
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        exc = Problem(500, "internal error; nothing was published")
    return problem_response(exc)


async def _takeover_only(request: Request) -> Response:
    # Reached only if an ASGI server skipped the lifespan, which refuses to start without serve.
    raise Problem(500, "the subscribe routes need `breaking-push serve`")


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
    """Build the node and its routes (`app.state.node`): nothing connects until the lifespan."""
    node = Node(settings)
    editors = Editors(settings)
    routes: list[BaseRoute] = [
        *Ingest(settings, node.broker, node.metrics, editors, node.hub.reached).routes(),
        *Listing(settings, node.broker, node.view).routes(),
        *AuditTrail(settings, node.broker, editors).routes(),
        *node.push.routes(),
    ]

    @cache
    def schema() -> dict[str, Any]:
        return openapi.build(_documented(routes), version("breaking-push"))

    routes += Ops(settings, node.broker, node.hub, node.metrics, schema, editors).routes()
    routes += meta_routes(settings)
    routes += [Route(SSE_PATH, _takeover_only), Route(WS_PATH, _takeover_only)]
    routes += page_routes()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        # SIGHUP re-reads the editor token file (it would otherwise end the process).
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, editors.reload)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await node.close()

    refusals = RefusalLog()

    def refused_signin(address: str | None, detail: str) -> None:
        node.metrics.refused.labels(SIGNIN_THROTTLED).inc()
        refusals.refused(address, detail, SIGNIN_THROTTLED)

    # Outermost first: the guard sees every answer, including the others' refusals.
    middleware = [Middleware(EdgeGuard)]
    if settings.allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts))
    middleware += [
        Middleware(
            SignInThrottleMiddleware,
            per_minute=settings.signin_failures_per_minute,
            proxies=settings.trusted_proxies,
            on_failure=node.metrics.signin_failures.inc,
            on_refusal=refused_signin,
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", REQUEST_ID],
            expose_headers=[REQUEST_ID],
            max_age=600,
        ),
        Middleware(RequestIds),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={Exception: _problem, HTTPException: _problem, Problem: _problem},
    )
    app.state.node = node
    return app
