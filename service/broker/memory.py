"""The embedded broker: one node, history in memory. The zero-setup default."""

from __future__ import annotations

import asyncio
import heapq
import time
from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator

from service.broker.audit import audit_entry, bounds, cut_page
from service.broker.base import (
    AuditNote,
    Broker,
    Draft,
    History,
    IdempotencyConflict,
    IdempotencyKey,
    LiveAlert,
    OnEvent,
    OnSync,
    Published,
    RateLimit,
    RateLimited,
    UnknownAlert,
    covers,
    readable,
)
from service.config import Settings
from service.events import Event, EventKey, format_id, parse_id
from service.models import AuditEntry, AuditPage, AuditQuery

# Idempotency records are bounded by count as well as by age, so a key flood cannot grow memory.
_MAX_IDEMPOTENCY_KEYS = 100_000


def _entry_key(entry: AuditEntry) -> EventKey:
    return parse_id(entry.id)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryBroker(Broker):
    """Same semantics as the Redis broker, for a single process; everything is lost on restart."""

    def __init__(self, settings: Settings) -> None:
        self._size = settings.history_size
        self._audit_size = settings.audit_size
        self._audit: list[AuditEntry] = []
        self._idempotency_ttl_ms = settings.idempotency_ttl_seconds * 1000
        self._events: list[Event] = []
        # Ids before the broker started belong to an earlier life whose history is gone; the
        # floor sits 1 ms back so that the first event's id is above it.
        self._floor: EventKey = (_now_ms() - 1, 0)
        self._trimmed: EventKey = (0, 0)
        self._alerts: dict[str, LiveAlert] = {}
        # (expires_ms, alert_id) of every alert published, soonest first: a publish expires
        # what is due without walking every live alert.
        self._expiries: list[tuple[int, str]] = []
        # Retracted alert id -> its retraction's id, in retraction order; swept as trimming
        # takes the retraction (and so the alert and its corrections before it) away.
        self._retracted: dict[str, EventKey] = {}
        self._idempotency: dict[str, tuple[str, Event, int]] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._on_event: OnEvent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ready(self) -> bool:
        return self._on_event is not None

    async def start(self, on_event: OnEvent, on_sync: OnSync) -> None:
        self._on_event = on_event
        self._loop = asyncio.get_running_loop()
        on_sync(await self.position(), False)

    async def close(self) -> None:
        self._on_event = None

    async def position(self) -> EventKey:
        return self._events[-1].key if self._events else self._floor

    def _next_key(self) -> EventKey:
        now = _now_ms()
        last = self._events[-1].key if self._events else self._floor
        return (last[0], last[1] + 1) if last[0] >= now else (now, 0)

    async def publish(
        self,
        draft: Draft,
        idempotency: IdempotencyKey | None = None,
        rate: RateLimit | None = None,
        audit: AuditNote | None = None,
    ) -> Published:
        now = _now_ms()
        if idempotency is not None:
            prior = self._idempotency.get(idempotency.key)
            if prior is not None and prior[2] > now:
                if prior[0] != idempotency.fingerprint:
                    raise IdempotencyConflict(idempotency.key)
                return Published(prior[1], replayed=True)
        self._expire(now)
        if draft.type != "alert" and (draft.alert_id not in self._alerts):
            raise UnknownAlert(draft.alert_id)
        if rate is not None:
            self._count(rate, now)
        event = Event.decode(format_id(self._next_key()), draft.body)
        self._append(event)
        if audit is not None:
            self._record(audit, draft, event)
        self._apply(draft, event)
        if idempotency is not None:
            self._remember(idempotency, event, now)
        if self._on_event is not None and self._loop is not None:
            # Fan-out runs after the editor's response is on its way, as with Redis pub/sub.
            self._loop.call_soon(self._on_event, event)
        return Published(event)

    def _append(self, event: Event) -> None:
        self._events.append(event)
        if len(self._events) >= 2 * self._size:
            cut = len(self._events) - self._size
            self._trimmed = self._events[cut - 1].key
            del self._events[:cut]
            while self._retracted and next(iter(self._retracted.values())) <= self._trimmed:
                del self._retracted[next(iter(self._retracted))]

    def _record(self, audit: AuditNote, draft: Draft, event: Event) -> None:
        """The write's audit entry, under its event's id (unique and rising here too)."""
        before = self._alerts[draft.alert_id].headline if draft.alert_id else None
        entry = audit_entry(
            event.id,
            audit.record(draft),
            alert_id=draft.alert_id or event.id,
            event_id=event.id,
            headline_before=before,
        )
        self._audit.append(entry)
        if len(self._audit) >= 2 * self._audit_size:
            del self._audit[: len(self._audit) - self._audit_size]

    async def audit(self, query: AuditQuery) -> AuditPage:
        return await cut_page(self._audit_newest_first(query), query)

    async def _audit_newest_first(self, query: AuditQuery) -> AsyncIterator[AuditEntry]:
        before, since = bounds(query)
        entries = self._audit
        end = len(entries) if before is None else bisect_left(entries, before, key=_entry_key)
        start = 0 if since is None else bisect_left(entries, since, key=_entry_key)
        for index in range(end - 1, start - 1, -1):
            yield entries[index]

    def _apply(self, draft: Draft, event: Event) -> None:
        if draft.type == "alert":
            self._alerts[event.id] = LiveAlert(event, event.payload["headline"])
            heapq.heappush(self._expiries, (event.expires_ms, event.id))
        elif draft.type == "correction" and draft.alert_id is not None and draft.headline:
            current = self._alerts[draft.alert_id]
            self._alerts[draft.alert_id] = LiveAlert(current.event, draft.headline)
        elif draft.alert_id is not None:
            del self._alerts[draft.alert_id]
            self._retracted[draft.alert_id] = event.key

    def _remember(self, idempotency: IdempotencyKey, event: Event, now: int) -> None:
        records = self._idempotency
        records[idempotency.key] = (idempotency.fingerprint, event, now + self._idempotency_ttl_ms)
        while len(records) > _MAX_IDEMPOTENCY_KEYS:
            del records[next(iter(records))]

    def _expire(self, now: int) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            # A retracted alert is already gone from the live ones.
            self._alerts.pop(heapq.heappop(expiries)[1], None)

    async def history(self, after: EventKey, limit: int | None = None) -> History:
        top = await self.position()
        start = bisect_right(self._events, after, key=lambda event: event.key)
        held = start > 0 and self._events[start - 1].key == after
        if not covers(after, floor=self._floor, trimmed=self._trimmed, top=top, held=held):
            return History([], reset=True, through=None)
        read = self._events[start : len(self._events) if limit is None else start + limit]
        return readable(read, self._retracted, read[-1].key if read else None)

    async def alert(self, alert_id: str) -> LiveAlert | None:
        self._expire(_now_ms())
        return self._alerts.get(alert_id)

    async def live_alerts(self) -> list[LiveAlert]:
        self._expire(_now_ms())
        return sorted(self._alerts.values(), key=lambda a: a.event.key, reverse=True)

    def _count(self, rate: RateLimit, now: int) -> None:
        start, count = self._windows.get(rate.key, (now, 0))
        if now - start >= rate.window_s * 1000:
            start, count = now, 0
        self._windows[rate.key] = (start, count + 1)
        if count + 1 > rate.limit:
            raise RateLimited((start + rate.window_s * 1000 - now) / 1000)
