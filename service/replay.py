"""History read in pages, one read shared by every subscriber resuming from nearby points.

A replay flood (many clients resuming far behind) must cost each of them one page of memory,
not its whole backlog, and must cost Redis one read per page however many clients ask: a
page read is shared while in flight (as Centrifugo's singleflight does), and kept for a
moment afterwards so a client resuming from any id inside it takes a slice instead of a read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from service.broker.base import Broker
from service.events import Event, EventKey

PAGE = 256
# Finished pages stay this long for clients resuming inside them; few are kept.
_KEEP_S = 2.0
_KEPT_PAGES = 8


@dataclass(frozen=True, slots=True)
class Page:
    """Up to PAGE entries after `after`, oldest first; `reset` when history no longer covers it.

    `through` is the last entry read (None if none): the next page starts after it, even when
    the broker withheld the entries at the end (a retracted alert's).
    """

    after: EventKey
    events: list[Event]
    reset: bool
    read_at: float
    through: EventKey | None

    def slice_after(self, position: EventKey) -> Page | None:
        """The part of this page after `position`, if `position` is its start or one of its
        events: an id the page does not hold (never handed out, lost in a failover, or withheld)
        is for the broker to judge."""
        if self.reset or self.through is None or not self.after <= position < self.through:
            return None
        if position != self.after and all(event.key != position for event in self.events):
            return None
        events = [event for event in self.events if event.key > position]
        return Page(position, events, False, self.read_at, self.through)


class PageReader:
    """Reads history pages through the broker, sharing reads between concurrent replays."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._in_flight: dict[EventKey, asyncio.Future[Page]] = {}
        self._kept: deque[Page] = deque(maxlen=_KEPT_PAGES)

    async def page(self, after: EventKey) -> Page:
        """The events after `after`; raises BrokerUnavailable like the broker."""
        now = time.monotonic()
        for kept in self._kept:
            if now - kept.read_at < _KEEP_S and (part := kept.slice_after(after)) is not None:
                return part
        future = self._in_flight.get(after)
        if future is None:
            future = asyncio.ensure_future(self._read(after))
            self._in_flight[after] = future
            future.add_done_callback(lambda _: self._in_flight.pop(after, None))
        # One replay giving up (its client left) must not cancel the read for the others.
        return await asyncio.shield(future)

    async def _read(self, after: EventKey) -> Page:
        history = await self._broker.history(after, limit=PAGE)
        page = Page(after, history.events, history.reset, time.monotonic(), history.through)
        if page.through is not None and not page.reset:
            self._kept.append(page)
        return page
