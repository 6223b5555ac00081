"""The vocabulary at the edge: request bodies, the event JSON and subscription filters, validated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    ValidationInfo,
    field_validator,
)

from service.events import PRIORITY_RANK, Event, EventKey

Language = Literal["en", "ar", "es"]
Category = Literal[
    "politics",
    "economy",
    "sports",
    "arts-culture",
    "health",
    "miscellaneous",
    "technology",
    "environment",
]
Priority = Literal["flash", "breaking", "update"]
EventType = Literal["alert", "correction", "retraction"]
HttpLink = Annotated[AnyUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]

LANGUAGES: tuple[str, ...] = get_args(Language)
CATEGORIES: tuple[str, ...] = get_args(Category)

# A ticker shows one line: control characters (newlines, tabs, NUL) have no place in it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line of text without control characters")
    return value


def _known_regions(value: list[str], info: ValidationInfo) -> list[str]:
    allowed: list[str] = (info.context or {}).get("regions", [])
    unknown = [region for region in value if region not in allowed]
    if unknown:
        raise ValueError(f"unknown region(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    return list(dict.fromkeys(value))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AlertIn(_Body):
    """What a desk editor posts to `POST /v1/alerts`."""

    headline: str = Field(min_length=1, max_length=280)
    regions: list[str] = Field(min_length=1, max_length=16, examples=[["mena", "palestine"]])
    language: Language
    category: Category | None = None
    priority: Priority = "breaking"
    source: str | None = Field(None, max_length=200)
    url: HttpLink | None = None
    ttl_seconds: int | None = Field(None, ge=1, description="default BREAKING_DEFAULT_TTL_SECONDS")

    @field_validator("headline", "source")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return _one_line(value) if value else None

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _known_regions(value, info)

    @field_validator("ttl_seconds")
    @classmethod
    def _ttl(cls, value: int | None, info: ValidationInfo) -> int | None:
        limit = (info.context or {}).get("max_ttl_seconds")
        if value is not None and limit is not None and value > limit:
            raise ValueError(f"must be at most {limit}")
        return value


class CorrectionIn(_Body):
    """A new headline for an earlier alert."""

    headline: str = Field(min_length=1, max_length=280)

    @field_validator("headline")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return _one_line(value)


class RetractionIn(_Body):
    """Why an alert is withdrawn (optional)."""

    reason: str = Field("", max_length=500)

    @field_validator("reason")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return _one_line(value)


class EventPayload(BaseModel):
    """The event JSON: the same object on every transport, in history and in listings."""

    id: str = Field(examples=["1764000000123-0"])
    type: EventType
    alert_id: str
    headline: str | None = None
    reason: str | None = None
    regions: list[str]
    language: Language
    category: Category | None = None
    priority: Priority
    source: str | None = None
    url: str | None = None
    published_at: str = Field(examples=["2026-11-24T15:00:00.123Z"])
    expires_at: str


class AlertList(BaseModel):
    """The live alerts, newest first, for a ticker's first paint."""

    alerts: list[EventPayload]


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetail(BaseModel):
    """An RFC 9457 problem: every error of the API."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """What one subscriber follows; None means any."""

    regions: frozenset[str] | None = None
    language: str | None = None
    category: str | None = None
    min_priority: int = 0

    def matches(self, event: Event) -> bool:
        return (
            (self.regions is None or not self.regions.isdisjoint(event.regions))
            and (self.language is None or self.language == event.language)
            and (self.category is None or self.category == event.category)
            and event.priority >= self.min_priority
        )

    def describe(self) -> dict[str, Any]:
        ranks = {rank: name for name, rank in PRIORITY_RANK.items()}
        return {
            "region": sorted(self.regions) if self.regions is not None else None,
            "language": self.language,
            "category": self.category,
            "priority": ranks[self.min_priority],
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscriber's filter and where it resumes from."""

    filter: Filter
    last_event_id: EventKey | None = None


class SubscribeQuery(BaseModel):
    """Subscription filters, the same on SSE, WebSocket and the listing."""

    region: str | None = Field(None, description="repeatable or comma-separated; absent = all")
    language: Language | None = Field(None, description="only this language; absent = all")
    category: Category | None = Field(None, description="only this category; absent = all")
    priority: Priority | None = Field(None, description="minimum: update < breaking < flash")
    last_event_id: str | None = Field(None, description="resume after this id (or Last-Event-ID)")


class AlertQuery(BaseModel):
    """Filters of the live-alert listing."""

    region: str | None = Field(None, description="repeatable or comma-separated; absent = all")
    language: Language | None = Field(None, description="only this language; absent = all")
    category: Category | None = Field(None, description="only this category; absent = all")
    priority: Priority | None = Field(None, description="minimum: update < breaking < flash")
    limit: int = Field(50, ge=1, le=500, description="at most this many alerts")


class SubscriberCensus(BaseModel):
    """Subscribers on this node, for the desk."""

    total: int
    sse: int
    ws: int
    by_region: dict[str, int]


class Stats(BaseModel):
    subscribers: SubscriberCensus
