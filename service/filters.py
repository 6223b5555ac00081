"""What a subscriber follows, parsed by the one model that documents it, the same on every door."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.events import PRIORITY_RANK, Event, EventKey, parse_id
from service.models import FilterQuery
from service.problems import Problem, from_validation

# Any query model: the subscription filters, and other doors' queries (the audit trail's).
Q = TypeVar("Q", bound=BaseModel)
_RANK_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}


@dataclass(frozen=True, slots=True)
class Filter:
    """What one subscriber follows; None means any."""

    regions: frozenset[str] | None = None
    language: str | None = None
    category: str | None = None
    min_priority: int = 0

    @classmethod
    def of(cls, query: FilterQuery) -> Filter:
        return cls(
            regions=frozenset(query.region) if query.region else None,
            language=query.language,
            category=query.category,
            min_priority=PRIORITY_RANK[query.priority] if query.priority else 0,
        )

    def matches(self, event: Event) -> bool:
        return (
            (self.regions is None or not self.regions.isdisjoint(event.regions))
            and (self.language is None or self.language == event.language)
            and (self.category is None or self.category == event.category)
            and event.priority >= self.min_priority
        )

    def describe(self) -> dict[str, Any]:
        return {
            "region": sorted(self.regions) if self.regions is not None else None,
            "language": self.language,
            "category": self.category,
            "priority": _RANK_NAMES[self.min_priority],
        }


def parse_query(model: type[Q], params: Mapping[str, Any], regions: Sequence[str]) -> Q:
    """A query string (name → list of values) or a JSON op, validated by `model`; 400 if wrong.

    `region` may repeat; every other parameter may be given once. Empty values mean absent.
    """
    fields: dict[str, Any] = {}
    for name in model.model_fields:
        value = params.get(name)
        if isinstance(value, list) and name != "region":
            if len(value) > 1:
                raise Problem(400, f"`{name}` may be given once")
            value = value[0] if value else None
        if value is not None and value != "" and value != []:
            fields[name] = value
    try:
        return model.model_validate(fields, context={"regions": list(regions)})
    except ValidationError as exc:
        raise from_validation(exc.errors(), "parameters", status=400) from None


def parse_resume(value: str | None) -> EventKey | None:
    """A `Last-Event-ID` or `last_event_id`; 400 if it is not an event id."""
    value = value.strip() if value is not None else ""
    return _resume_key(value) if value else None


@functools.lru_cache(maxsize=4096)
def _resume_key(value: str) -> EventKey:
    """Kept, as a reconnect storm resumes from a handful of ids. Keyed on the stripped value,
    which is at most 31 characters when it is an id, so padding cannot fill the cache."""
    try:
        return parse_id(value)
    except ValueError as exc:
        raise Problem(400, f"last event id: {exc}") from None
