"""How late the event loop runs what is due: one periodic timer that reports its own lateness.

Everything a node does shares one loop, so a callback that holds it (a long fan-out, a round of
heartbeats, a scrape) delays ingest, heartbeats and replays alike. The probe's timer is due every
interval; how late it runs is how long a callback that became ready at that moment waited, so
the samples are the delay the loop adds to whatever arrives, at any cadence. A fine cadence also
bounds the longest tick: at least the lag, at most the lag plus the interval (the loop was free
when the timer was last set). The node reports it as `breaking_loop_lag_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class LoopLag:
    """One timer per node; `observe` gets each lateness in seconds. An interval of 0 is off."""

    def __init__(self, observe: Callable[[float], None], interval: float) -> None:
        self._observe = observe
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._interval
        if not interval:
            return

        # perf_counter, not loop.time(): uvloop's clock counts whole milliseconds.
        def tick(due: float) -> None:
            now = time.perf_counter()
            self._observe(max(now - due, 0.0))
            self._handle = loop.call_later(interval, tick, now + interval)

        self._handle = loop.call_later(interval, tick, time.perf_counter() + interval)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
