"""The bench's quick fan-out path at tiny N, so the load generator and its checks cannot rot."""

from __future__ import annotations

from bench.scenario import connect_rate, fanout
from bench.targets import TARGETS


def test_fanout_delivers_every_alert_exactly_once_to_matching_subscribers() -> None:
    result = fanout(TARGETS["breaking-push"], 50, 3, warmup=0)
    assert result.problems == []
    assert result.fanout_ms is not None
    assert result.cpu_us is not None


def test_resuming_subscribers_get_exactly_the_missed_alerts() -> None:
    result = connect_rate(TARGETS["breaking-push"], 20, history=3)
    assert result.problems == []
    assert result.connects_per_s is not None


def test_the_floor_answers_websocket_handshakes_a_checking_client_accepts() -> None:
    """The load generator checks Sec-WebSocket-Accept, so a wrong floor key would fail here."""
    result = fanout(TARGETS["floor"], 20, 2, warmup=0, transports=["ws"])
    assert result.problems == []
