"""Subscription filters and resume ids, parsed the same for SSE, WebSocket ops and the listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.events import PRIORITY_RANK, EventKey, parse_id
from service.models import CATEGORIES, LANGUAGES, Filter
from service.problems import Problem


def one_param(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter given at most once (a list from a query string, or a JSON value); None if empty."""
    value = params.get(name)
    if isinstance(value, list):
        if len(value) > 1:
            raise Problem(400, f"`{name}` may be given once")
        value = value[0] if value else None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Problem(400, f"`{name}` must be a string")
    return value


def _choice(params: Mapping[str, Any], name: str, allowed: Sequence[str]) -> str | None:
    value = one_param(params, name)
    if value is not None and value not in allowed:
        raise Problem(400, f"unknown {name} {value!r}; expected one of: {', '.join(allowed)}")
    return value


def parse_filter(params: Mapping[str, Any], regions: Sequence[str]) -> Filter:
    """Filters from query parameters or a `subscribe` op; `region` is repeatable or comma-separated."""
    raw = params.get("region")
    items = [raw] if isinstance(raw, str) else list(raw or [])
    if not all(isinstance(item, str) for item in items):
        raise Problem(400, "`region` must be a string or a list of strings")
    wanted = {part.strip() for item in items for part in item.split(",") if part.strip()}
    unknown = sorted(wanted - set(regions))
    if unknown:
        raise Problem(400, f"unknown region(s) {', '.join(unknown)}; known: {', '.join(regions)}")
    priority = _choice(params, "priority", tuple(PRIORITY_RANK))
    return Filter(
        regions=frozenset(wanted) if wanted else None,
        language=_choice(params, "language", LANGUAGES),
        category=_choice(params, "category", CATEGORIES),
        min_priority=PRIORITY_RANK[priority] if priority else 0,
    )


def parse_resume(value: str | None) -> EventKey | None:
    """A `Last-Event-ID` or `last_event_id`; 400 if it is not an event id."""
    if value is None or value.strip() == "":
        return None
    try:
        return parse_id(value.strip())
    except ValueError as exc:
        raise Problem(400, f"last event id: {exc}") from None
