"""The audit trail's door: who published, corrected or retracted what, for editors only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.auth import Editors
from service.broker.base import Broker, BrokerUnavailable
from service.config import Settings
from service.filters import parse_query
from service.models import AuditPage, AuditQuery
from service.openapi import Operation, operation
from service.problems import Problem
from service.responses import json_response


class AuditTrail:
    """`GET /v1/audit`: the broker's audit entries, newest first, filtered and paged."""

    def __init__(self, settings: Settings, broker: Broker, editors: Editors) -> None:
        self._settings = settings
        self._broker = broker
        self._editors = editors

    def routes(self) -> list[Route]:
        return [Route("/v1/audit", self.entries, methods=["GET"])]

    @operation(
        Operation(
            "Who published, corrected and retracted what",
            200,
            AuditPage,
            query=AuditQuery,
            errors=(400, 401, 503),
            auth=True,
            tags=("ingest",),
            operation_id="listAudit",
            description=(
                "Every write, newest first: its editor, time, request id and the headline "
                "before and after. Retained for the last `BREAKING_AUDIT_SIZE` writes (at "
                "least). Pass `next_before` as `before` for the older page."
            ),
        )
    )
    async def entries(self, request: Request) -> Response:
        await self._editors.authenticate(request)
        params = {key: request.query_params.getlist(key) for key in request.query_params}
        query = parse_query(AuditQuery, params, self._settings.regions)
        try:
            page = await self._broker.audit(query)
        except BrokerUnavailable as exc:
            raise Problem(
                503, "the broker is unreachable; retry shortly", headers={"retry-after": "1"}
            ) from exc
        return json_response(page.model_dump(mode="json"), headers={"cache-control": "no-store"})
