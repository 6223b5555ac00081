"""This node's subscribers, indexed by filter, and the fan-out hot path.

Delivering an event costs one `transport.write()` of bytes encoded once per transport
for each matching subscriber: no task, queue or coroutine wake-up per subscriber.
Backpressure policy: a subscriber whose transport buffer is over the bound when an
event is due is disconnected (it resumes by event id); nothing waits for it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from service.events import Codec, Event, EventKey
from service.filters import Filter
from service.metrics import Metrics
from service.models import SubscriberCensus

BucketKey = tuple[str | None, str | None, str | None, int]
NO_POSITION: EventKey = (0, 0)


class Subscriber(Protocol):
    """What the hub needs of a connection; the transports implement it."""

    transport: asyncio.Transport
    filter: Filter

    @property
    def codec(self) -> Codec: ...

    def live_marker(self, position: EventKey) -> bytes:
        """The bytes that tell the client replay is over and where live delivery starts."""

    def send_reset(self) -> None:
        """History cannot cover the client's position: it must reload the listing."""

    def heartbeat(self, now: float) -> None:
        """Keep the connection alive, or close it if the peer has gone silent."""

    def drop(self, reason: str) -> None:
        """Close at once with a logged reason."""


def bucket_keys(flt: Filter) -> list[BucketKey]:
    """The index entries a subscriber is filed under: one per region it follows."""
    regions: Iterable[str | None] = sorted(flt.regions) if flt.regions is not None else (None,)
    return [(region, flt.language, flt.category, flt.min_priority) for region in regions]


def _event_keys(event: Event) -> list[BucketKey]:
    """Every index entry whose subscribers match the event."""
    return list(
        itertools.product(
            (*event.regions, None),
            (event.language, None),
            (event.category, None) if event.category else (None,),
            range(event.priority + 1),
        )
    )


class Hub:
    """Holds live and replaying subscribers; fans each broker event out to the matching ones."""

    def __init__(
        self,
        metrics: Metrics,
        codecs: Sequence[Codec],
        *,
        buffer_bytes: int,
        replay_cache: int,
    ) -> None:
        if [codec.slot for codec in codecs] != list(range(len(codecs))):
            raise ValueError("codec slots must be 0, 1, … in the order given")
        self._metrics = metrics
        self._codecs = tuple(codecs)
        self._limit = buffer_bytes
        # Per index entry, one set of subscribers per codec slot.
        self._buckets: dict[BucketKey, list[set[Subscriber]]] = {}
        self._live: set[Subscriber] = set()
        self._pending: dict[Subscriber, list[Event]] = {}
        self._recent: deque[Event] = deque(maxlen=replay_cache)
        self._recent_floor: EventKey = NO_POSITION
        self.position: EventKey = NO_POSITION
        self._heartbeat: asyncio.TimerHandle | None = None
        self._advanced: asyncio.Event | None = None

    @property
    def buffer_bytes(self) -> int:
        """The per-connection write bound; subscribers apply it to their own writes too."""
        return self._limit

    def start(self, heartbeat_s: float) -> None:
        """One heartbeat timer for the whole node."""
        loop = asyncio.get_running_loop()

        def beat() -> None:
            now = loop.time()
            # Replaying subscribers too: a long replay must not look idle to a proxy.
            for sub in [*self._live, *self._pending]:
                sub.heartbeat(now)
            self._heartbeat = loop.call_later(heartbeat_s, beat)

        self._heartbeat = loop.call_later(heartbeat_s, beat)

    def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()

    @property
    def subscribers(self) -> int:
        return len(self._live) + len(self._pending)

    # -- fan-out -----------------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        """Deliver one event to every matching subscriber: the hot path."""
        self.position = event.key
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None
        if len(self._recent) == self._recent.maxlen:
            # The oldest event is about to fall out (or, with no cache, this one is never kept).
            self._recent_floor = self._recent[0].key if self._recent else event.key
        self._recent.append(event)
        for sub, buffered in self._pending.items():
            if sub.filter.matches(event):
                buffered.append(event)
        groups = [g for k in _event_keys(event) if (g := self._buckets.get(k)) is not None]
        delivered = 0
        slow: list[Subscriber] = []
        limit = self._limit
        for codec in self._codecs:
            sets = [group[codec.slot] for group in groups if group[codec.slot]]
            if not sets:
                continue
            payload = event.wire(codec)
            # A subscriber following several of the event's regions sits in several sets.
            targets: Iterable[Subscriber] = (
                set().union(*sets)
                if len(sets) > 1 and len(event.regions) > 1
                else itertools.chain(*sets)
            )
            for sub in targets:
                transport = sub.transport
                if transport.get_write_buffer_size() > limit:
                    slow.append(sub)
                    continue
                transport.write(payload)
                delivered += 1
        for sub in slow:
            sub.drop(
                f"unable to receive updates fast enough ({sub.transport.get_write_buffer_size()} bytes buffered)"
            )
            self._metrics.slow_disconnects.inc()
        self._metrics.delivered(event, delivered)

    def sync(self, position: EventKey, lost: bool) -> None:
        """Continue from the broker's position; if events were lost, every subscriber reloads."""
        self.position = self._recent_floor = position
        self._recent.clear()
        if lost:
            for sub in [*self._live, *self._pending]:
                sub.send_reset()

    # -- membership ----------------------------------------------------------------------------

    def add(self, sub: Subscriber) -> None:
        """File a subscriber in the index: from now on it receives live events."""
        slot = sub.codec.slot
        for key in bucket_keys(sub.filter):
            group = self._buckets.get(key)
            if group is None:
                group = self._buckets[key] = [set() for _ in self._codecs]
            group[slot].add(sub)
        self._live.add(sub)

    def remove(self, sub: Subscriber) -> None:
        """Forget a subscriber wherever it is; safe to call more than once."""
        self._pending.pop(sub, None)
        if sub not in self._live:
            return
        self._live.discard(sub)
        slot = sub.codec.slot
        for key in bucket_keys(sub.filter):
            group = self._buckets.get(key)
            if group is not None:
                group[slot].discard(sub)
                if not any(group):
                    del self._buckets[key]

    def hold(self, sub: Subscriber) -> None:
        """Buffer matching events for a subscriber while its replay is read."""
        self._pending[sub] = []

    def release(self, sub: Subscriber) -> list[Event] | None:
        """Stop buffering; the events dispatched since `hold`, or None if it went away."""
        return self._pending.pop(sub, None)

    async def reached(self, position: EventKey) -> None:
        """Wait until this node has dispatched up to `position`."""
        while self.position < position:
            if self._advanced is None:
                self._advanced = asyncio.Event()
            await self._advanced.wait()

    def replaying(self, sub: Subscriber) -> bool:
        return sub in self._pending

    def pending_size(self, sub: Subscriber) -> int:
        return len(self._pending.get(sub, ()))

    def recent_after(self, after: EventKey) -> list[Event] | None:
        """Events after `after` from this node's memory, or None if it does not cover them."""
        if not self._recent_floor <= after <= self.position:
            return None
        return [event for event in self._recent if event.key > after]

    def census(self) -> SubscriberCensus:
        """Subscriber counts for the desk: total, per transport and per followed region."""
        by_region: dict[str, int] = {}
        by_transport = dict.fromkeys((codec.name for codec in self._codecs), 0)
        for sub in itertools.chain(self._live, self._pending):
            by_transport[sub.codec.name] += 1
            for region in sorted(sub.filter.regions) if sub.filter.regions is not None else ("*",):
                by_region[region] = by_region.get(region, 0) + 1
        return SubscriberCensus(
            total=self.subscribers, by_transport=by_transport, by_region=by_region
        )
