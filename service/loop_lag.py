"""How late the event loop runs what is due: one periodic timer that reports its own lateness.

Everything a node does shares one loop, so a callback that holds it (a long fan-out, a round of
heartbeats, a scrape) delays ingest, heartbeats and replays alike. The probe's timer is due every
`INTERVAL_S`; how late it runs is the time a ready callback waited, and the longest loop tick
is at least that and at most that plus the interval (the loop was free when the timer was last
set). The node reports it as `breaking_loop_lag_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Every 10 ms: a tick over 20 ms (the hub's fan-out budget) always shows as at least 10 ms late.
# The price is 100 wake-ups a second: 0.3-0.6% of a core on an idle node of the bench machine
# (a VM, where waking from idle is dear), about 2% of the CPU the bench counts per delivery at
# 4,000 subscribers (within its noise), and less on a busy loop, which is awake anyway.
INTERVAL_S = 0.01


class LoopLag:
    """One timer per node; `observe` gets each lateness in seconds."""

    def __init__(self, observe: Callable[[float], None], interval: float = INTERVAL_S) -> None:
        self._observe = observe
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._interval

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
