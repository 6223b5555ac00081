"""The broker interface: publish atomically, deliver live to this node, replay history."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

import orjson

from service.events import Event, EventKey
from service.models import AuditPage, AuditQuery


class BrokerUnavailable(Exception):
    """The broker cannot be reached; nothing was published."""


class NotReplicated(Exception):
    """Stored and published, but fewer replicas than required confirmed it in time.

    A failover before they do can lose it. Subscribers may already have it; a retry with the
    same idempotency key returns it (waiting for the replicas again) and publishes nothing.
    """

    def __init__(self, event: Event, acknowledged: int, wanted: int) -> None:
        super().__init__(f"{event.id}: {acknowledged} of {wanted} replicas acknowledged")
        self.event = event


class UnknownAlert(Exception):
    """The alert does not exist, has expired or was retracted."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with a different request body."""


class RateLimited(Exception):
    """The editor is over its limit; nothing was published."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before the broker gives it an id.

    `type` is the event type (alert, correction, retraction); `body` is the stored form
    (`events.stored_body`); `alert_id` names the alert a correction or retraction changes;
    `headline` is a correction's new headline.
    """

    type: str
    body: bytes
    alert_id: str | None = None
    headline: str | None = None
    ttl_ms: int = 0


_ACTIONS = {"alert": "publish", "correction": "correct", "retraction": "retract"}


@dataclass(frozen=True, slots=True)
class AuditNote:
    """Who asks for a write, and the request's id; the broker adds what only it knows."""

    editor: str
    request_id: str

    def record(self, draft: Draft) -> dict[str, Any]:
        """The entry's fields known before the write (not its ids, time or former headline)."""
        payload = orjson.loads(draft.body)
        retraction = draft.type == "retraction"
        return {
            "action": _ACTIONS[draft.type],
            "editor": self.editor,
            "request_id": self.request_id,
            "headline_after": None if retraction else payload.get("headline"),
            "reason": (payload.get("reason") or None) if retraction else None,
        }


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's Idempotency-Key, scoped to one editor, with its request's fingerprint."""

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` publishes per `window_s` seconds under `key`; replays do not count."""

    key: str
    limit: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Published:
    event: Event
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class History:
    """Events after a resume id, oldest first; `reset` when that id is no longer covered.

    `through` is the id of the last entry read, None if none was: a retracted alert and its
    corrections are read but withheld, so the next page starts after `through`, not after
    the last event returned.
    """

    events: list[Event]
    reset: bool
    through: EventKey | None


def taken_down(event: Event, retracted: Container[str]) -> bool:
    """Whether the event carries the text of a retracted alert (the alert or a correction).

    From its retraction on, no history read, replay or resume serves that text; the
    retraction itself still goes out, so screens that showed the alert remove it.
    """
    return event.type != "retraction" and event.alert_id in retracted


def readable(events: list[Event], retracted: Container[str], through: EventKey | None) -> History:
    """History of the events read up to `through`, without what was taken down."""
    kept = [event for event in events if not taken_down(event, retracted)]
    return History(kept, reset=False, through=through)


def covers(
    after: EventKey, *, floor: EventKey, trimmed: EventKey, top: EventKey, held: bool
) -> bool:
    """Whether history holds every event after `after`; `held`: whether it holds `after`.

    Not if `after` predates this epoch's floor or an event trimmed away, nor if it is past
    the newest id (an id from an epoch the broker lost). Between those, `after` must be the
    floor, the trim point or an event history holds: any other id was never handed out, or
    was lost when history moved backwards (a replica promoted without the newest writes,
    which later writes then pass), and what followed it is unknown.
    """
    if not (floor <= after <= top and after >= trimmed):
        return False
    return held or after in (floor, trimmed)


@dataclass(frozen=True, slots=True)
class LiveAlert:
    """An alert that is neither expired nor retracted, with its latest headline."""

    event: Event
    headline: str

    def payload(self) -> dict[str, Any]:
        if self.event.type != "alert":
            raise ValueError("a live alert is always an alert event")
        return {**self.event.payload, "headline": self.headline}


OnEvent = Callable[[Event], None]
OnSync = Callable[[EventKey, bool], None]
"""Called with the position live delivery continues from, and whether events were lost before it."""


class Broker(ABC):
    """Pub/sub mechanics and history; a node owns one and hands its live events to the hub."""

    @property
    @abstractmethod
    def ready(self) -> bool:
        """Connected and subscribed, so live events are flowing."""

    @abstractmethod
    async def start(self, on_event: OnEvent, on_sync: OnSync) -> None:
        """Connect and deliver every event, in id order, to `on_event` until `close`.

        `on_sync(position, lost)` comes once the first subscription is live, and again with
        `lost=True` whenever events may have been lost for good (a broker that came back
        empty): subscribers must then reload from the listing.
        """

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def position(self) -> EventKey:
        """The id up to which history is complete: the newest event's, or the epoch's start."""

    @abstractmethod
    async def publish(
        self,
        draft: Draft,
        idempotency: IdempotencyKey | None = None,
        rate: RateLimit | None = None,
        audit: AuditNote | None = None,
    ) -> Published:
        """Append to history, record `audit` and publish live in one atomic step.

        In order: an idempotent replay returns the first answer; an unknown alert raises
        UnknownAlert; a publish over `rate` raises RateLimited; only then is anything written.
        A write (or replay) that fewer replicas than required confirm raises NotReplicated.
        """

    @abstractmethod
    async def history(self, after: EventKey, limit: int | None = None) -> History:
        """The retained events after `after` (the first `limit` of them), or `reset` if some
        may be missing."""

    @abstractmethod
    async def alert(self, alert_id: str) -> LiveAlert | None:
        """The live alert with this id, if it is neither expired nor retracted."""

    @abstractmethod
    async def live_alerts(self) -> list[LiveAlert]:
        """Every live alert, newest first."""

    @abstractmethod
    async def audit(self, query: AuditQuery) -> AuditPage:
        """Retained audit entries matching `query`, newest first, a page at a time."""
