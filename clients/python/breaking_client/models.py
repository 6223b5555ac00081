"""The event JSON and the API's problem+json as typed models, mirroring the server's own."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
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
    # Set on listed alerts (and by `LiveAlerts`) once a correction changed the headline.
    corrected: bool = False
    original_headline: str | None = None

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


class Term(BaseModel):
    """A slug the API takes, with its display name in each edition's language."""

    slug: str
    names: dict[str, str]


class LanguageInfo(BaseModel):
    code: str
    dir: Literal["ltr", "rtl"]
    name: str


class Meta(BaseModel):
    """The answer of `GET /v1/meta`: the service's own vocabulary."""

    regions: list[Term]
    languages: list[LanguageInfo]
    categories: list[Term]
    priorities: list[Term]


@dataclass(frozen=True, slots=True)
class Retracted:
    """An alert withdrawn while it was followed: what it said, why, and when."""

    alert: Event
    reason: str
    at: str


class LiveAlerts:
    """What a ticker shows, from a listing and the events after it: corrections marked as such,
    retracted alerts set aside with their reason instead of vanishing without a word."""

    def __init__(self, alerts: Iterable[Event] = ()) -> None:
        self._live: dict[str, Event] = {}
        self.retracted: list[Retracted] = []
        self.replace(alerts)

    def replace(self, alerts: Iterable[Event]) -> None:
        """Start again from a listing (after a `Reset`)."""
        self._live = {alert.alert_id: alert for alert in alerts}

    def apply(self, event: Event) -> None:
        alert = self._live.get(event.alert_id)
        if event.type == "alert":
            self._live[event.alert_id] = event
        elif event.type == "correction" and alert is not None:
            first = alert.original_headline or alert.headline
            self._live[event.alert_id] = alert.model_copy(
                update={"headline": event.headline, "corrected": True, "original_headline": first}
            )
        elif event.type == "retraction" and alert is not None:
            del self._live[event.alert_id]
            self.retracted.insert(0, Retracted(alert, event.reason or "", event.published_at))

    def get(self, alert_id: str) -> Event | None:
        """The live alert `alert_id` as it stands, if it is live."""
        return self._live.get(alert_id)

    @property
    def alerts(self) -> list[Event]:
        """The live alerts, newest first."""
        return sorted(
            self._live.values(), key=lambda alert: event_key(alert.alert_id), reverse=True
        )
