"""`/openapi.json`, generated from the routes' pydantic models: never written by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.models import ProblemDetail

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """What the schema says of one route; attached to its endpoint with `@operation`."""

    summary: str
    status: int = 200
    response: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: bool = False
    media_type: str = "application/json"
    tags: tuple[str, ...] = field(default=())


def operation(spec: Operation) -> Callable[[F], F]:
    def attach(endpoint: F) -> F:
        endpoint.__openapi__ = spec  # type: ignore[attr-defined]
        return endpoint

    return attach


def _parameters(query: type[BaseModel] | None, path: str) -> list[dict[str, Any]]:
    params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    if query is not None:
        schema = query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "description": prop.get("description", ""),
                    "schema": prop,
                }
            )
    return params


def build(operations: Iterable[tuple[str, str, Operation]], version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for `(path, method, Operation)` triples."""
    ops = list(operations)
    models = {m for _, _, op in ops for m in (op.response, op.body) if m is not None} | {
        ProblemDetail
    }
    refs, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": op.summary}
        if op.response is not None:
            ok["content"] = {op.media_type: {"schema": refs[(op.response, "validation")]}}
        elif op.media_type != "application/json":
            ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
        responses[str(op.status)] = ok
        problem = {"application/problem+json": {"schema": refs[(ProblemDetail, "validation")]}}
        for status in op.errors:
            responses[str(status)] = {"description": "problem", "content": problem}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": list(op.tags),
            "parameters": _parameters(op.query, path),
            "responses": responses,
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        if op.auth:
            entry["security"] = [{"editorToken": []}]
        paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "breaking-push",
            "version": version,
            "description": "Breaking-news alerts: editors publish, subscribers receive live.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"editorToken": {"type": "http", "scheme": "bearer"}},
        },
    }
