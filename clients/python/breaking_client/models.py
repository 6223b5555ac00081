"""The event JSON and the API's problem+json as typed models, mirroring the server's own."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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

EventKey = tuple[int, int]
"""An event id as the pair (milliseconds, sequence): ids compare as this, never as strings."""

_ID = re.compile(r"\A(\d{1,15})-(\d{1,15})\Z")


def event_key(event_id: str) -> EventKey:
    """Parse `"<ms>-<seq>"` into its sortable pair; raises ValueError on anything else."""
    match = _ID.match(event_id)
    if match is None:
        raise ValueError(f"{event_id!r} is not an event id (expected <milliseconds>-<sequence>)")
    return int(match[1]), int(match[2])


class Event(BaseModel):
    """One alert, correction or retraction: the same object on every transport and in history."""

    model_config = ConfigDict(frozen=True)

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

    @property
    def key(self) -> EventKey:
        return event_key(self.id)


class Reset(BaseModel):
    """The resume id was older than the server's history: reload `live_alerts()` before going on."""

    model_config = ConfigDict(frozen=True)

    type: Literal["reset"] = "reset"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem, as every API error is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class AlertList(BaseModel):
    """The answer of `GET /v1/alerts`: the live alerts, newest first."""

    alerts: list[Event]
