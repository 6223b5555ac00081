"""The machine the bench runs on, and how busy others kept it while each run was measured.

The machine is shared: another engineer's tests take cores from the server and the load
generator alike. Each run records the CPU that processes outside the bench used meanwhile
(all busy time from /proc/stat, steal included, less the bench's own processes), so a
figure measured while the machine was busy can be told from one measured on a calm one.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
# /proc/stat's cpu columns: user nice system idle iowait irq softirq steal (guest is in user).
_BUSY = (0, 1, 2, 5, 6, 7)


def describe() -> str:
    """Cores, CPU model, kernel and Python, for the report's header."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def _busy_seconds() -> float:
    columns = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(columns[i]) for i in _BUSY) / _TICK


def _own_seconds() -> float:
    """CPU of this process and every child it has reaped (they reap theirs: the whole bench)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


@dataclass
class Others:
    """Started before a run; `cores()` after it, once the run's processes are reaped."""

    wall: float
    busy: float
    own: float

    @classmethod
    def start(cls) -> Others:
        return cls(time.monotonic(), _busy_seconds(), _own_seconds())

    def cores(self) -> float:
        """Cores used on average by processes outside the bench since `start`."""
        wall = time.monotonic() - self.wall
        others = (_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        return max(others, 0.0) / wall if wall > 0 else 0.0
