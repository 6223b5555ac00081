"""JSON and problem+json answers for the ASGI routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from service.problems import MEDIA_TYPE, Problem


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def problem_response(problem: Problem) -> Response:
    return Response(problem.body(), problem.status, problem.headers, media_type=MEDIA_TYPE)
