"""The loop-lag probe reports a callback that holds the loop, and stops when told."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.loop_lag import LoopLag


async def _samples(seen: list[float], count: int) -> None:
    async with asyncio.timeout(5):
        while len(seen) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def test_a_callback_holding_the_loop_shows_as_lateness() -> None:
    seen: list[float] = []
    probe = LoopLag(seen.append, interval=0.005)
    probe.start()
    try:
        await _samples(seen, 3)
        asyncio.get_running_loop().call_soon(time.sleep, 0.06)  # holds the loop for 60 ms
        await _samples(seen, len(seen) + 3)
    finally:
        probe.stop()
    # At least the hold less one interval, whatever the phase of the probe's timer.
    assert max(seen) >= 0.055


@pytest.mark.parametrize("how", ["stopped", "interval 0"])
async def test_a_stopped_or_disabled_probe_observes_nothing(how: str) -> None:
    quiet: list[float] = []
    probe = LoopLag(quiet.append, interval=0.001 if how == "stopped" else 0)
    probe.start()
    probe.stop()
    # A second probe on the same cadence is the sentinel: once it has run a few times, the
    # first would have too.
    sentinel: list[float] = []
    running = LoopLag(sentinel.append, interval=0.001)
    running.start()
    try:
        await _samples(sentinel, 5)
    finally:
        running.stop()
    assert quiet == []
