"""This node's subscribers, indexed by filter, and the fan-out hot path.

Delivering an event costs one `transport.write()` of bytes encoded once per transport
for each matching subscriber: no task, queue or coroutine wake-up per subscriber, and no
allocation proportional to the subscribers (each sits in exactly one index entry, so an
event to several regions needs no union to deliver once).
Backpressure policy: a subscriber whose transport buffer is over the bound when an
event is due is disconnected (it resumes by event id); nothing waits for it.
Loop policy: a fan-out that runs past `FANOUT_BUDGET_S` finishes in later loop ticks,
events after it wait their turn (order is kept), so ingest and heartbeats stay responsive.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import math
import operator
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from service.broker.base import taken_down
from service.events import Codec, Event, EventKey
from service.filters import Filter
from service.metrics import Metrics
from service.models import SubscriberCensus

_event_key = operator.attrgetter("key")

RegionKey = str | frozenset[str] | None
"""One region, a combination of several (a multi-region filter), or None for every region."""
BucketKey = tuple[RegionKey, str | None, str | None, int]
NO_POSITION: EventKey = (0, 0)
# A fan-out slice ends once it has run this long, well inside the 20 ms a tick may take: the
# clock is read only every _CLOCK_EVERY writes, and the bench measured slices of 20 ms
# budget running to 30 ms ticks.
FANOUT_BUDGET_S = 0.012
# How many writes go between two looks at the clock during a fan-out.
_CLOCK_EVERY = 64
# Subscribers heartbeaten in one loop tick; a round of them spreads over the interval.
_BEAT_SLICE = 500
# Retractions remembered beyond the replay cache, for history pages kept in memory (2 s):
# far more than editors can retract in that time.
_RETRACTIONS_KEPT = 10_000


class Subscriber(Protocol):
    """What the hub needs of a connection; the transports implement it."""

    transport: asyncio.Transport
    filter: Filter
    # True while the transport's buffer is over its high-water mark (which is at most the
    # hub's bound): only then does the fan-out look at the buffer's size.
    writing_paused: bool

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


@functools.lru_cache(maxsize=4096)
def bucket_key(flt: Filter) -> BucketKey:
    """The one index entry a subscriber is filed under (kept: filters are few and shared)."""
    regions = flt.regions
    region: RegionKey = (
        None if regions is None else next(iter(regions)) if len(regions) == 1 else regions
    )
    return (region, flt.language, flt.category, flt.min_priority)


# Work left of a fan-out that ran past its budget: (event, [(payload, subscribers)]).
_Rest = tuple[Event, list[tuple[bytes, list[Subscriber]]]]


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
        # Multi-region combinations in the index, with how many entries use each.
        self._combined: dict[frozenset[str], int] = {}
        self._live: set[Subscriber] = set()
        self._pending: dict[Subscriber, list[Event]] = {}
        self._recent: deque[Event] = deque(maxlen=replay_cache)
        self._recent_floor: EventKey = NO_POSITION
        # Alerts retracted lately, oldest first: whatever this node still holds of them (the
        # recent events, kept history pages, replay buffers) is never written again. An alert
        # in the recent cache has its retraction there too, so as many as it holds suffice.
        self._retracted: dict[str, None] = {}
        self._retractions_kept = max(replay_cache, _RETRACTIONS_KEPT)
        self.position: EventKey = NO_POSITION
        # Changes whenever recent_after() may answer differently: an event, or a sync.
        self.version = 0
        self._advanced: asyncio.Event | None = None
        # Census, kept as subscribers come and go so that a scrape costs O(regions).
        self._by_transport = [0] * len(self._codecs)
        self._by_region: dict[str, int] = {}
        # A fan-out in progress: what is left of it, later events, who left meanwhile.
        self._rest: _Rest | None = None
        self._delivered = 0
        self._backlog: deque[Event] = deque()
        self._left: set[Subscriber] = set()
        # Heartbeats: one timer, a round of subscribers spread over the interval.
        self._heartbeat: asyncio.TimerHandle | None = None
        self._round: list[Subscriber] = []
        self._cursor = 0

    # -- heartbeats ----------------------------------------------------------------------------

    @property
    def buffer_bytes(self) -> int:
        """The per-connection write bound; subscribers apply it to their own writes too."""
        return self._limit

    def start(self, heartbeat_s: float) -> None:
        """One heartbeat timer for the whole node, each subscriber beaten once per interval."""
        loop = asyncio.get_running_loop()

        def beat() -> None:
            if self._cursor >= len(self._round):
                # Replaying subscribers too: a long replay must not look idle to a proxy.
                self._round, self._cursor = [*self._live, *self._pending], 0
            ticks = max(1, math.ceil(len(self._round) / _BEAT_SLICE))
            # The subscribers' clock (time.monotonic(): no event loop lookup per connection).
            now = time.monotonic()
            for sub in self._round[self._cursor : self._cursor + _BEAT_SLICE]:
                if sub in self._live or sub in self._pending:
                    sub.heartbeat(now)
            self._cursor += _BEAT_SLICE
            self._heartbeat = loop.call_later(heartbeat_s / ticks, beat)

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
        if self._rest is not None:
            self._backlog.append(event)
            return
        self._fan_out(event)

    def _fan_out(self, event: Event) -> None:
        self._begin(event)
        self._delivered = 0
        started = time.perf_counter()
        work: list[tuple[bytes, Iterable[Subscriber]]] = []
        for codec in self._codecs:
            sets = [g[codec.slot] for k in self._event_keys(event) if (g := self._buckets.get(k))]
            if any(sets):
                work.append((event.wire(codec), itertools.chain(*sets)))
        self._write(event, work, started)

    def _begin(self, event: Event) -> None:
        """Everything an event changes for this node before its bytes go out."""
        self.position = event.key
        self.version += 1
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None
        if len(self._recent) == self._recent.maxlen:
            # The oldest event is about to fall out (or, with no cache, this one is never kept).
            self._recent_floor = self._recent[0].key if self._recent else event.key
        self._recent.append(event)
        if event.type == "retraction":
            self._retracted[event.alert_id] = None
            if len(self._retracted) > self._retractions_kept:
                del self._retracted[next(iter(self._retracted))]
        for sub, buffered in self._pending.items():
            if sub.filter.matches(event):
                buffered.append(event)

    def _write(
        self, event: Event, work: list[tuple[bytes, Iterable[Subscriber]]], started: float
    ) -> None:
        """Write `work` until done, or until the budget is spent: then keep the rest for later."""
        limit, slow, delivered = self._limit, [], 0
        for index, (payload, targets) in enumerate(work):
            subs = iter(targets)
            while chunk := list(itertools.islice(subs, _CLOCK_EVERY)):
                for sub in chunk:
                    # Only a transport over its high-water mark can be over the bound: the
                    # others cost one write and no buffer lookup.
                    if sub.writing_paused and sub.transport.get_write_buffer_size() > limit:
                        slow.append(sub)
                    else:
                        sub.transport.write(payload)
                delivered += len(chunk)
                if time.perf_counter() - started > FANOUT_BUDGET_S:
                    # Copy what is left now: the index may change before the next tick.
                    rest = [(payload, list(subs))]
                    rest += [(p, list(t)) for p, t in work[index + 1 :]]
                    self._pause(event, rest, delivered - len(slow), slow)
                    return
        self._delivered += delivered - len(slow)
        self._drop_slow(slow)
        self._metrics.delivered(event, self._delivered)
        self._rest = None
        self._left.clear()
        self._next()

    def _pause(
        self,
        event: Event,
        rest: list[tuple[bytes, list[Subscriber]]],
        delivered: int,
        slow: list[Subscriber],
    ) -> None:
        self._delivered += delivered
        self._drop_slow(slow)
        self._rest = (event, rest)
        asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        if self._rest is None:
            return
        event, rest = self._rest
        if self._left:
            # Who left while the fan-out waited is skipped once here, not looked up per write.
            left = self._left
            rest = [(payload, [sub for sub in subs if sub not in left]) for payload, subs in rest]
            left.clear()
        self._write(event, list(rest), time.perf_counter())

    def _next(self) -> None:
        """Start the events that waited behind a long fan-out, in order."""
        if self._backlog and self._rest is None:
            self._fan_out(self._backlog.popleft())

    def _drop_slow(self, slow: list[Subscriber]) -> None:
        for sub in slow:
            sub.drop(
                f"unable to receive updates fast enough ({sub.transport.get_write_buffer_size()} bytes buffered)"
            )
            self._metrics.slow_disconnects.inc()

    def _event_keys(self, event: Event) -> list[BucketKey]:
        """Every index entry whose subscribers match the event; no subscriber is in two."""
        regions: list[RegionKey] = [*event.regions, None]
        regions += [combo for combo in self._combined if not combo.isdisjoint(event.regions)]
        return list(
            itertools.product(
                regions,
                (event.language, None),
                (event.category, None) if event.category else (None,),
                range(event.priority + 1),
            )
        )

    def sync(self, position: EventKey, lost: bool) -> None:
        """Continue from the broker's position; if events were lost, every subscriber reloads."""
        self.position = self._recent_floor = position
        self.version += 1
        self._recent.clear()
        if lost:
            # Whatever was still being fanned out predates the loss: the reset covers it.
            self._rest = None
            self._backlog.clear()
            self._left.clear()
            for sub in [*self._live, *self._pending]:
                sub.send_reset()

    # -- membership ----------------------------------------------------------------------------

    def add(self, sub: Subscriber) -> None:
        """File a subscriber in the index: from now on it receives live events."""
        if sub in self._live:
            return
        key = bucket_key(sub.filter)
        group = self._buckets.get(key)
        if group is None:
            group = self._buckets[key] = [set() for _ in self._codecs]
            if isinstance(key[0], frozenset):
                self._combined[key[0]] = self._combined.get(key[0], 0) + 1
        group[sub.codec.slot].add(sub)
        self._live.add(sub)
        self._count(sub, 1)

    def remove(self, sub: Subscriber) -> None:
        """Forget a subscriber wherever it is; safe to call more than once."""
        if self._rest is not None:
            # A fan-out paused mid-way holds a copy of its targets: skip this one there.
            self._left.add(sub)
        if self._pending.pop(sub, None) is not None:
            self._count(sub, -1)
        if sub not in self._live:
            return
        self._live.discard(sub)
        self._count(sub, -1)
        key = bucket_key(sub.filter)
        group = self._buckets.get(key)
        if group is not None:
            group[sub.codec.slot].discard(sub)
            if not any(group):
                del self._buckets[key]
                if isinstance(key[0], frozenset):
                    self._uncombine(key[0])

    def _uncombine(self, combo: frozenset[str]) -> None:
        remaining = self._combined[combo] - 1
        if remaining:
            self._combined[combo] = remaining
        else:
            del self._combined[combo]

    def hold(self, sub: Subscriber) -> None:
        """Buffer matching events for a subscriber while its replay is read."""
        if sub not in self._pending:
            self._count(sub, 1)
        self._pending[sub] = []

    def release(self, sub: Subscriber) -> list[Event] | None:
        """Stop buffering; the events dispatched since `hold`, or None if it went away."""
        buffered = self._pending.pop(sub, None)
        if buffered is not None:
            self._count(sub, -1)
        return buffered

    def _count(self, sub: Subscriber, change: int) -> None:
        self._by_transport[sub.codec.slot] += change
        regions = sub.filter.regions if sub.filter.regions is not None else ("*",)
        for region in regions:
            count = self._by_region.get(region, 0) + change
            if count:
                self._by_region[region] = count
            else:
                del self._by_region[region]

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
        """Events after `after` from this node's memory, or None if it does not cover them.

        Only from an id this node dispatched (or the point it started from): any other id in
        range was never handed out, or was lost in a failover, and history decides.
        """
        if not self._recent_floor <= after <= self.position:
            return None
        # A resume is usually a few events behind a full cache: find them from the end, not
        # by walking the thousands before them on every connect of a reconnect storm.
        start = bisect.bisect_right(self._recent, after, key=_event_key)
        if after != self._recent_floor and (start == 0 or self._recent[start - 1].key != after):
            return None
        newer = list(itertools.islice(reversed(self._recent), len(self._recent) - start))
        newer.reverse()
        return [event for event in newer if self.serves(event)]

    def serves(self, event: Event) -> bool:
        """Whether a replay may still write this event: not if its alert was retracted since."""
        return not taken_down(event, self._retracted)

    def census(self) -> SubscriberCensus:
        """Subscriber counts for the desk: total, per transport and per followed region."""
        return SubscriberCensus(
            total=self.subscribers,
            by_transport={codec.name: self._by_transport[codec.slot] for codec in self._codecs},
            by_region=dict(sorted(self._by_region.items())),
        )
