"""JSON request bodies, read within a size limit and validated by a pydantic model at the edge."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from service.problems import Problem, from_validation

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or a 413 problem as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(
    request: Request,
    model: type[M],
    *,
    limit: int,
    context: dict[str, Any],
    what: str,
    required: bool = True,
) -> M:
    """The body as `model`: 413, 415, 400 (not JSON) or 422 (naming each field) otherwise.

    An empty body stands for `{}` when the body is not `required`.
    """
    raw = await read_body(request, limit)
    if not raw.strip() and not required:
        return model.model_validate({}, context=context)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(415, f"send the body as application/json, not {media or 'no content type'}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Problem(422, "the body must be a JSON object")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise from_validation(exc.errors(), what) from None
