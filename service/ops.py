"""Operations routes: liveness, readiness, metrics, the desk's subscriber counts, the API schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service.auth import Editors
from service.broker.base import Broker
from service.config import Settings
from service.hub import Hub
from service.metrics import Metrics
from service.models import Stats
from service.openapi import Operation, operation
from service.problems import Problem
from service.responses import json_response


class Ops:
    """Routes for load balancers, Prometheus and the desk."""

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        hub: Hub,
        metrics: Metrics,
        schema: Callable[[], dict[str, Any]],
        editors: Editors,
    ) -> None:
        self._settings = settings
        self._editors = editors
        self._broker = broker
        self._hub = hub
        self._metrics = metrics
        self._schema = schema

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/v1/stats", self.stats, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
        ]

    @operation(Operation("The process is alive", tags=("ops",), operation_id="healthz"))
    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    @operation(
        Operation(
            "Subscribed to the broker and serving",
            errors=(503,),
            tags=("ops",),
            operation_id="readyz",
        )
    )
    async def readyz(self, request: Request) -> Response:
        if not self._broker.ready:
            raise Problem(503, "not subscribed to the broker (Redis unreachable?)")
        return json_response({"status": "ready", "subscribers": self._hub.subscribers})

    @operation(
        Operation(
            "Prometheus metrics",
            media_type=CONTENT_TYPE_LATEST,
            tags=("ops",),
            operation_id="metrics",
        )
    )
    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @operation(
        Operation(
            "Subscribers on this node, for the desk",
            200,
            Stats,
            errors=(401,),
            auth=True,
            tags=("ops",),
            operation_id="getStats",
        )
    )
    async def stats(self, request: Request) -> Response:
        await self._editors.authenticate(request)
        return json_response(Stats(subscribers=self._hub.census()).model_dump())

    @operation(Operation("This schema", tags=("ops",), operation_id="getOpenapi"))
    async def openapi(self, request: Request) -> Response:
        return json_response(self._schema())
