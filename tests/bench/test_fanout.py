"""The bench's runs at tiny N, so the load generator, its checks and the probes cannot rot."""

from __future__ import annotations

import orjson
import pytest

from bench import floor, lag, scenario
from bench.layouts import MULTI_REGION, ONE_REGION, verify
from bench.loadgen import SubResult
from bench.scenario import across_workers, connect_rate, fanout, ticks
from bench.targets import TARGETS
from service.models import EventPayload


@pytest.mark.parametrize("name", ["breaking-push", "floor"])
def test_fanout_reaches_each_matching_subscriber_once(name: str) -> None:
    """Multi-region alerts on both transports; the load generator checks every
    Sec-WebSocket-Accept, so a wrong key (the floor's once) fails here too."""
    result = fanout(TARGETS[name], 64, 4, warmup=0, layout=MULTI_REGION)
    assert result.problems == []
    assert result.fanout_ms is not None
    assert result.cpu_us is not None


@pytest.mark.parametrize("resume", [True, False])
def test_connect_storms_get_exactly_the_missed_alerts(resume: bool) -> None:
    result = connect_rate(TARGETS["breaking-push"], 20, "ws", resume, history=3)
    assert result.problems == []
    assert result.connects_per_s is not None
    assert result.connect_cpu_us is not None


def test_workers_each_hold_subscribers_and_deliver_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # From the extra loopback addresses the 50,000 of `make bench` come from.
    monkeypatch.setattr(scenario, "sources", lambda n: ["127.0.0.2", "127.0.0.3"])
    result = across_workers(TARGETS["breaking-push"], 60, 2, workers=2)
    assert result.problems == []
    assert len(result.fds) == 2


def test_the_loop_lag_probe_is_read_around_each_phase() -> None:
    result = ticks(TARGETS["breaking-push"], 20, 2, ONE_REGION, heartbeat_s=0.4)
    assert result.problems == []
    assert set(result.lag) == {"connect storm", "heartbeats", "scrapes", "fan-out"}
    assert all(phase.samples > 0 for phase in result.lag.values())


def _got(*seqs: int) -> SubResult:
    return SubResult(True, 1, [(seq, 2) for seq in seqs])


def test_verify_counts_a_second_copy_of_a_multi_region_alert_as_a_duplicate() -> None:
    # Alert 0 goes to mena and palestine: a subscriber following both gets it once.
    follows = [("mena", "palestine"), ("africa",)]
    assert verify(MULTI_REGION, follows, [_got(0), _got()], [0]) == []
    problems = verify(MULTI_REGION, follows, [_got(0, 0), _got(0)], [0])
    assert problems == ["1 deliveries duplicated", "1 deliveries leaked"]


def _histogram(*counts: int) -> str:
    bounds = ("0.01", "0.02", "0.05", "+Inf")
    return "".join(
        f'breaking_loop_lag_seconds_bucket{{le="{le}"}} {count}.0\n'
        for le, count in zip(bounds, counts, strict=True)
    )


def test_a_phase_counts_samples_over_20_ms_and_bounds_the_worst() -> None:
    before, after = lag.parse(_histogram(4, 5, 5, 5)), lag.parse(_histogram(8, 9, 10, 10))
    seen = lag.phase(before, after)
    assert (seen.samples, seen.over, seen.worst_ms) == (5, 1, 50.0)
    assert not seen.passed


def test_the_floor_sends_the_event_object_ours_does() -> None:
    """The floor writes the same bytes per delivery as ours, so the fan-out ratios compare
    the servers and not the size of what they send."""
    event = orjson.loads(
        floor.Hub().publish({"headline": "h", "regions": ["mena"], "language": "en"})
    )
    assert EventPayload.model_validate(event).model_dump(exclude_none=True) == event
