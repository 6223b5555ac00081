"""A fan-out longer than the budget finishes in later loop ticks, in order, exactly once."""

from __future__ import annotations

import asyncio

import pytest

from service import hub as hub_module
from service.events import Event, stored_body
from service.filters import Filter
from service.hub import Hub
from service.metrics import Metrics
from service.transports.sse import SSE
from service.transports.ws import WS
from tests.unit.test_hub_index import CODECS, _Subscriber


def _event(ms: int, regions: tuple[str, ...] = ("mena",)) -> Event:
    body = {
        "type": "alert",
        "headline": "h",
        "regions": list(regions),
        "language": "en",
        "priority": "flash",
        "ttl": 60,
    }
    return Event.decode(f"{ms}-0", stored_body(body))


@pytest.fixture
def sliced(monkeypatch: pytest.MonkeyPatch) -> None:
    """No budget at all: every fan-out pauses at its first clock check."""
    monkeypatch.setattr(hub_module, "FANOUT_BUDGET_S", 0.0)


async def _ticks(hub: Hub) -> None:
    async with asyncio.timeout(5):
        while hub._rest is not None or hub._backlog:  # noqa: ASYNC110
            await asyncio.sleep(0)


@pytest.mark.usefixtures("sliced")
async def test_a_sliced_fan_out_keeps_order_and_delivers_each_event_once() -> None:
    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    subs = [
        _Subscriber(Filter(regions=frozenset({"mena", "palestine"})), (SSE, WS)[i % 2])
        for i in range(1000)
    ]
    for sub in subs:
        hub.add(sub)
    events = [_event(ms, ("mena", "palestine")) for ms in range(1, 4)]
    for event in events:
        hub.dispatch(event)
    assert hub._rest is not None, "the budget should have cut the first fan-out"
    await _ticks(hub)
    for sub in subs:
        assert sub.chunks == [event.wire(sub.codec) for event in events]


@pytest.mark.usefixtures("sliced")
async def test_who_leaves_mid_fan_out_gets_no_more_and_who_joins_gets_only_later_events() -> None:
    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    subs = [_Subscriber(Filter(regions=frozenset({"mena"})), SSE) for _ in range(1000)]
    for sub in subs:
        hub.add(sub)
    first, second = _event(1), _event(2)
    hub.dispatch(first)
    hub.dispatch(second)
    untouched = [sub for sub in subs if not sub.chunks]
    assert untouched, "the budget should have left subscribers for later ticks"
    leaving = untouched[0]
    hub.remove(leaving)
    joining = _Subscriber(Filter(regions=frozenset({"mena"})), SSE)
    hub.add(joining)
    await _ticks(hub)
    assert leaving.chunks == []
    assert joining.chunks == [second.wire(SSE)]
    assert all(
        sub.chunks == [first.wire(SSE), second.wire(SSE)] for sub in subs if sub is not leaving
    )


async def test_heartbeats_reach_every_subscriber_in_slices() -> None:
    beaten: dict[int, int] = {}
    done = asyncio.Event()
    at_done: set[int] = set()

    class Beaten(_Subscriber):
        def heartbeat(self, now: float) -> None:
            beaten[id(self)] = beaten.get(id(self), 0) + 1
            if len(beaten) == 1200 and not done.is_set():
                at_done.update(beaten.values())
                done.set()

    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    for _ in range(1200):
        hub.add(Beaten(Filter(), SSE))
    hub.start(0.05)
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        hub.stop()
    # Every subscriber once before any of them twice: one round spread over the interval.
    assert at_done == {1}
