"""Reads the node's loop-lag histogram (`breaking_loop_lag_seconds`) around the phases of a run.

Two scrapes bound a phase; the difference of their bucket counts is what the probe saw in it.
"""

from __future__ import annotations

import http.client
import math
from dataclasses import dataclass

_BUCKET = "breaking_loop_lag_seconds_bucket{"
LIMIT_S = 0.02  # issue 15: no loop tick over 20 ms

Buckets = dict[float, int]
"""Cumulative counts by upper bound (seconds; inf for +Inf)."""


@dataclass(frozen=True)
class Phase:
    """What the probe saw in one phase: samples, how many were over LIMIT_S, the worst bound."""

    samples: int
    over: int
    worst_ms: float

    @property
    def passed(self) -> bool:
        return self.samples > 0 and self.over == 0


def parse(text: str) -> Buckets:
    """The histogram's cumulative bucket counts from Prometheus text."""
    buckets: Buckets = {}
    for line in text.splitlines():
        if line.startswith(_BUCKET):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = int(float(line.split()[-1]))
    return buckets


def scrape(port: int) -> Buckets:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return parse(text)


def phase(before: Buckets, after: Buckets) -> Phase:
    """The samples between two scrapes; `worst_ms` is the upper bound of the highest one."""
    counts = {bound: after[bound] - before.get(bound, 0) for bound in sorted(after)}
    total = counts.get(math.inf, 0)
    within = max((count for bound, count in counts.items() if bound <= LIMIT_S), default=0)
    worst = min((bound for bound, count in counts.items() if count == total), default=math.inf)
    return Phase(total, total - within, worst * 1000)
