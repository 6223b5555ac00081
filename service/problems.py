"""RFC 9457 problem details: every error of the API, on every route and transport."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from service.models import FieldError, ProblemDetail

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error answer: status, a clear detail, and for 422 the fields at fault."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def model(self) -> ProblemDetail:
        return ProblemDetail(
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )

    def body(self) -> bytes:
        return orjson.dumps(self.model().model_dump(exclude_none=True))

    def as_dict(self) -> dict[str, Any]:
        return self.model().model_dump(exclude_none=True)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "literal_error":
        return f"{error['input']!r} is not one of {error['ctx']['expected']}"
    return str(error["msg"]).removeprefix("Value error, ")


def from_validation(errors: list[Any], what: str, status: int = 422) -> Problem:
    """A problem (422 for bodies, 400 for queries) listing each invalid field of `errors()`."""
    fields = [
        FieldError(
            field=".".join(str(part) for part in error["loc"]) or "body",
            message=_message(error),
        )
        for error in errors
    ]
    listing = "; ".join(f"{f.field}: {f.message}" for f in fields)
    return Problem(status, f"invalid {what}: {listing}", errors=fields)
