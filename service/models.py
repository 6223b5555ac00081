"""The vocabulary at the edge: request bodies, the event JSON and subscription filters, validated."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    UrlConstraints,
    ValidationInfo,
    field_validator,
)

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
AuditAction = Literal["publish", "correct", "retract"]
HttpLink = Annotated[AnyUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]

LANGUAGES: tuple[str, ...] = get_args(Language)
CATEGORIES: tuple[str, ...] = get_args(Category)

# Event ids (and audit entry ids): `<milliseconds>-<sequence>`.
_ID_PATTERN = r"^\d{1,20}-\d{1,20}$"

# A ticker shows one line: control characters (newlines, tabs, NUL) have no place in it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters that break other consumers' lines or reorder the text around them: C1 controls,
# line and paragraph separators (JavaScript string literals, JSON-in-HTML), bidi overrides
# and isolates (the "Trojan Source" spoof). Zero-width joiners stay: Arabic and emoji need them.
_DISRUPTIVE = re.compile("[\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line of text without control characters")
    found = _DISRUPTIVE.search(value)
    if found:
        char = found.group()
        name = unicodedata.name(char, "a C1 control character")
        raise ValueError(f"must not contain U+{ord(char):04X} ({name}) at position {found.start()}")
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
    # Strict: "60" and true are refused, as the OpenAPI schema says (true was a 1-second TTL).
    ttl_seconds: int | None = Field(
        None, ge=1, strict=True, description="default BREAKING_DEFAULT_TTL_SECONDS"
    )

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


class ListedAlert(EventPayload):
    """A live alert with its corrections applied; a corrected one keeps its first headline."""

    corrected: bool = False
    original_headline: str | None = None


class AlertList(BaseModel):
    """The live alerts, newest first, for a ticker's first paint."""

    alerts: list[ListedAlert]


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


class FilterQuery(BaseModel):
    """Subscription filters, the same on SSE, WebSocket, the `subscribe` op and the listing."""

    model_config = ConfigDict(extra="ignore")

    region: list[str] | None = Field(
        None,
        description="regions to follow, repeatable or comma-separated; absent = every region",
        examples=[["mena", "palestine"]],
    )
    language: Language | None = Field(None, description="only alerts in this language")
    category: Category | None = Field(None, description="only alerts of this category")
    priority: Priority | None = Field(
        None, description="minimum priority: update < breaking < flash"
    )

    @field_validator("region", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            return value
        parts = [part.strip() for item in items for part in item.split(",") if part.strip()]
        return parts or None

    @field_validator("region")
    @classmethod
    def _regions(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        return None if value is None else _known_regions(value, info)


class SubscribeQuery(FilterQuery):
    """What a subscriber asks for: filters, and where to resume."""

    last_event_id: str | None = Field(
        None, description="resume after this event id (the Last-Event-ID header wins)"
    )


class AlertQuery(FilterQuery):
    """Filters of the live-alert listing."""

    limit: int = Field(50, ge=1, le=500, description="at most this many alerts")


class SubscriberCensus(BaseModel):
    """Subscribers on this node, for the desk."""

    total: int
    by_transport: dict[str, int] = Field(examples=[{"sse": 120, "ws": 480}])
    by_region: dict[str, int] = Field(description="`*` counts subscribers to every region")


class Stats(BaseModel):
    """The desk's view of this node."""

    subscribers: SubscriberCensus


class AuditEntry(BaseModel):
    """One write as the audit trail keeps it: for editors only, never in the public event."""

    id: str = Field(description="this entry's id, the paging cursor", examples=["1764000000123-0"])
    action: AuditAction
    alert_id: str = Field(description="the alert written (for `publish`, the new alert)")
    event_id: str = Field(description="the event the write published")
    editor: str = Field(description="the signed-in editor's name")
    at: str = Field(examples=["2026-11-24T15:00:00.123Z"])
    request_id: str = Field(description="the write's `X-Request-ID`, given or generated")
    headline_before: str | None = Field(description="null for `publish`")
    headline_after: str | None = Field(description="null for `retract`")
    reason: str | None = Field(None, description="a retraction's reason")


class AuditPage(BaseModel):
    """Audit entries, newest first; `next_before` fetches the older page (null: no more)."""

    entries: list[AuditEntry]
    next_before: str | None = None


class AuditQuery(BaseModel):
    """Filters and paging of `GET /v1/audit`."""

    editor: str | None = Field(None, max_length=200, description="only this editor's writes")
    alert_id: str | None = Field(None, pattern=_ID_PATTERN, description="only writes to this alert")
    since: datetime | None = Field(
        None, description="only writes at or after this time (ISO 8601, with a time zone)"
    )
    before: str | None = Field(
        None, pattern=_ID_PATTERN, description="the page after this entry id (`next_before`)"
    )
    limit: int = Field(50, ge=1, le=500, description="at most this many entries")

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-24T15:00:00Z")
        return value
