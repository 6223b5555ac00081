"""`/openapi.json`, generated from the routes' pydantic models: never written by hand.

Written for client generators as much as for readers: every operation has an `operationId`,
every parameter and header a description, and the subscribe routes name their event shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from service.models import EventPayload, ProblemDetail

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Header:
    """A request header an operation reads."""

    name: str
    description: str


IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    "Makes a retry safe: the same key and body within a day returns the first answer and "
    "publishes nothing new (on any node); the same key with another body is 422.",
)
REQUEST_ID = Header(
    "X-Request-ID",
    "Your id for this write (1 to 128 printable ASCII characters; otherwise one is made): "
    "echoed on the response and kept in the audit trail (`GET /v1/audit`).",
)
LAST_EVENT_ID = Header(
    "Last-Event-ID",
    "Resume after this event id: every missed matching event is replayed in order first. "
    "Browsers' EventSource sends it on reconnect; `last_event_id` in the query does the same.",
)

# Answers that come with `Retry-After` (seconds): rate limited, or the broker unreachable.
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_PATH_PARAMETERS = {
    "alert_id": "The alert's id: the event id its `alert` event was given, e.g. 1764000000123-0.",
}


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
    # A generator names its function after this: stable, camelCase, unique.
    operation_id: str = field(default="", kw_only=True)
    headers: tuple[Header, ...] = field(default=(), kw_only=True)
    body_required: bool = field(default=True, kw_only=True)
    description: str = field(default="", kw_only=True)
    # Schemas the description refers to that no request or response names (event frames).
    mentions: tuple[type[BaseModel], ...] = field(default=(), kw_only=True)


def operation(spec: Operation) -> Callable[[F], F]:
    def attach(endpoint: F) -> F:
        endpoint.__openapi__ = spec  # type: ignore[attr-defined]
        return endpoint

    return attach


class ResetData(BaseModel):
    """`reset`: the resume point is older than the retained history; reload `GET /v1/alerts`."""

    model_config = ConfigDict(extra="forbid")


class HeartbeatData(BaseModel):
    """`heartbeat`: the node is there; sent every `every` seconds, so silence means a dead link."""

    model_config = ConfigDict(extra="forbid")

    every: float = Field(description="the node's heartbeat interval in seconds")


class ReadyData(BaseModel):
    """`ready` (WebSocket only): replay is done and the filters now in force are these."""

    filters: dict[str, Any] = Field(
        description="region (list or null), language, category, priority"
    )


class SubscribeOp(BaseModel):
    """A WebSocket client's message: change the filters without reconnecting."""

    op: Literal["subscribe"]
    region: list[str] | str | None = Field(None, description="any of these regions; absent = all")
    language: str | None = None
    category: str | None = None
    priority: str | None = Field(None, description="minimum priority")
    last_event_id: str | None = Field(None, description="replay what came after this id first")


class ServerFrame(BaseModel):
    """A WebSocket server frame (JSON text): an event, `ready`, `reset`, `heartbeat`, or an
    `error` problem."""

    event: Literal["alert", "correction", "retraction", "ready", "reset", "heartbeat", "error"]
    id: str | None = Field(
        description="the event id; for `ready` the stream's position (null before any event); "
        "null for `reset`, `heartbeat` and `error`"
    )
    data: EventPayload | ReadyData | HeartbeatData | ResetData | ProblemDetail


SSE_EVENTS = (
    "A `text/event-stream`. It starts with a `retry:` hint and a position marker (`id:` with "
    "no `data:`, so a client that has seen no event yet still resumes without a gap). Each "
    "event is `id: <event id>`, `event: alert|correction|retraction` and `data:` one "
    "EventPayload as JSON. `event: reset` (data `{}`, schema ResetData) comes first when the "
    "resume point is older than the retained history: reload `GET /v1/alerts`. Every "
    "heartbeat interval `event: heartbeat` (no id, data HeartbeatData) shows the link is alive."
)
WS_FRAMES = (
    "After the upgrade every server frame is JSON text, a ServerFrame: "
    '`{"event": "alert", "id": "...", "data": EventPayload}` (also `correction`, '
    "`retraction`); `ready` with ReadyData once replay is done (after connecting and after "
    "each SubscribeOp); `reset` with `{}` (ResetData); `heartbeat` with HeartbeatData every "
    "heartbeat interval (with a protocol ping); `error` with a ProblemDetail for a bad "
    "client frame (the connection and its filters stay). The client may send a SubscribeOp "
    '(`{"op": "subscribe", ...}`) to change its filters; browsers must send an allowed '
    "`Origin`. Protocol pings keep idle connections alive."
)


def _parameters(op: Operation, path: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _PATH_PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in (part[1:-1] for part in path.split("/") if part.startswith("{"))
    ]
    if op.query is not None:
        schema = op.query.model_json_schema()
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
    params += [
        {
            "name": header.name,
            "in": "header",
            "required": False,
            "description": header.description,
            "schema": {"type": "string"},
        }
        for header in op.headers
    ]
    return params


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": op.description or op.summary}
    if op.response is not None:
        ok["content"] = {op.media_type: {"schema": refs[(op.response, "validation")]}}
    elif op.media_type != "application/json":
        ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    problem = {"application/problem+json": {"schema": refs[(ProblemDetail, "validation")]}}
    for status in op.errors:
        error: dict[str, Any] = {"description": "problem", "content": problem}
        if status in _RETRY_AFTER_STATUSES:
            error["headers"] = _RETRY_AFTER
        responses[str(status)] = error
    return responses


def build(operations: Iterable[tuple[str, str, Operation]], version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for `(path, method, Operation)` triples."""
    ops = list(operations)
    named = {m for _, _, op in ops for m in (op.response, op.body) if m is not None}
    models = named | {m for _, _, op in ops for m in op.mentions} | {ProblemDetail}
    refs, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        if not op.operation_id:
            raise ValueError(f"{method} {path} has no operation_id")
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": list(op.tags),
            "parameters": _parameters(op, path),
            "responses": _responses(op, refs),
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
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
