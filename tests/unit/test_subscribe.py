"""The replay-to-live hand-off, in-process: a fake broker whose history reads the test holds open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.broker.base import Broker, Draft, History, LiveAlert, OnEvent, OnSync, Published
from service.config import Settings
from service.events import Event, EventKey, stored_body
from service.filters import Filter, _resume_key, parse_resume
from service.hub import Hub
from service.metrics import Metrics
from service.models import AuditPage, AuditQuery
from service.replay import PAGE
from service.subscribe import SSE_PATH, Gateway, SubscribeRequest
from service.transports.sse import SSE, SseSubscriber
from service.transports.ws import WS


def _event(ms: int, region: str = "mena") -> Event:
    body = stored_body(
        {
            "type": "alert",
            "headline": f"alert {ms}",
            "regions": [region],
            "language": "en",
            "priority": "breaking",
            "ttl": 600,
        }
    )
    return Event.decode(f"{ms}-0", body)


class FakeBroker(Broker):
    """History the test writes; each read waits for `gate` and is counted."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.gate = asyncio.Event()
        self.gate.set()
        self.reads: list[EventKey] = []
        self.fail: Exception | None = None
        self.reset = False

    @property
    def ready(self) -> bool:
        return True

    async def start(self, on_event: OnEvent, on_sync: OnSync) -> None:
        raise NotImplementedError

    async def close(self) -> None: ...

    async def position(self) -> EventKey:
        return self.events[-1].key

    async def publish(
        self, draft: Draft, idempotency: Any = None, rate: Any = None, audit: Any = None
    ) -> Published:
        raise NotImplementedError

    async def audit(self, query: AuditQuery) -> AuditPage:
        raise NotImplementedError

    async def history(self, after: EventKey, limit: int | None = None) -> History:
        self.reads.append(after)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if self.reset:
            return History([], reset=True, through=None)
        newer = [event for event in self.events if event.key > after][:limit]
        return History(newer, reset=False, through=newer[-1].key if newer else None)

    async def alert(self, alert_id: str) -> LiveAlert | None:
        raise NotImplementedError

    async def live_alerts(self) -> list[LiveAlert]:
        raise NotImplementedError


class Recorder(asyncio.Transport):
    """Stands in for a socket: keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16 * 1024, 64 * 1024)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def ids(self) -> list[int]:
        """The event ids written, in order, as their milliseconds."""
        lines = bytes(self.written).decode().split("\n")
        return [
            int(line.removeprefix("id: ").split("-")[0])
            for index, line in enumerate(lines)
            if line.startswith("id: ") and index + 1 < len(lines) and lines[index + 1]
        ]


class Node:
    """A hub and a gateway over the fake broker, with no replay cache (history every time)."""

    def __init__(self, history: list[Event]) -> None:
        settings = Settings(replay_cache_size=0, heartbeat_seconds=60)
        self.broker = FakeBroker(history)
        self.hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=0)
        self.hub.sync(history[-1].key, lost=False)
        self.gateway = Gateway(settings, self.hub, self.broker)

    def subscriber(self) -> tuple[SseSubscriber, Recorder]:
        transport = Recorder()
        sub = SseSubscriber(self.hub, Filter(), transport, set(), heartbeat=b"")
        return sub, transport

    async def settled(self, *subs: SseSubscriber) -> None:
        """Every replay task has ended: each subscriber is live or closed."""
        async with asyncio.timeout(5):
            await asyncio.gather(*self.gateway._tasks)
        assert not any(self.hub.replaying(sub) for sub in subs)


async def test_events_dispatched_during_the_read_follow_history_exactly_once_in_order() -> None:
    node = Node([_event(ms) for ms in range(1, 11)])
    sub, transport = node.subscriber()
    node.broker.gate.clear()
    node.gateway.open(sub, (3, 0))
    for ms in (11, 12):
        node.hub.dispatch(_event(ms))
    node.broker.events += [_event(11), _event(12)]
    node.broker.gate.set()
    await node.settled(sub)
    node.hub.dispatch(_event(13))
    assert transport.ids() == list(range(4, 14))


async def test_a_long_history_is_read_a_page_at_a_time() -> None:
    node = Node([_event(ms) for ms in range(1, 2 * PAGE + 50)])
    sub, transport = node.subscriber()
    node.gateway.open(sub, (1, 0))
    await node.settled(sub)
    assert transport.ids() == list(range(2, 2 * PAGE + 50))
    assert node.broker.reads == [(1, 0), (1 + PAGE, 0), (1 + 2 * PAGE, 0)]


async def test_replays_from_one_point_share_each_read() -> None:
    node = Node([_event(ms) for ms in range(1, PAGE + 20)])
    node.broker.gate.clear()
    subs = [node.subscriber() for _ in range(20)]
    for sub, _ in subs:
        node.gateway.open(sub, (5, 0))
    await asyncio.sleep(0)
    node.broker.gate.set()
    await node.settled(*(sub for sub, _ in subs))
    for _, transport in subs:
        assert transport.ids() == list(range(6, PAGE + 20))
    assert node.broker.reads == [(5, 0), (5 + PAGE, 0)]


@pytest.mark.parametrize(
    ("resume", "reads"),
    [((40, 0), [(1, 0)]), ((40, 5), [(1, 0), (40, 5)])],
    ids=["an-id-it-holds", "an-id-it-does-not"],
)
async def test_a_replay_from_inside_a_recent_page_takes_a_slice_only_from_an_id_it_holds(
    resume: EventKey, reads: list[EventKey]
) -> None:
    """Any other id (never handed out, or lost in a failover) is for history to judge."""
    node = Node([_event(ms) for ms in range(1, 100)])
    first, _ = node.subscriber()
    node.gateway.open(first, (1, 0))
    await node.settled(first)
    later, transport = node.subscriber()
    node.gateway.open(later, resume)
    await node.settled(later)
    assert transport.ids() == list(range(41, 100))
    assert node.broker.reads == reads


async def test_history_that_no_longer_covers_the_id_sends_reset_then_goes_live() -> None:
    node = Node([_event(ms) for ms in range(1, 5)])
    node.broker.reset = True
    node.broker.gate.clear()
    sub, transport = node.subscriber()
    node.gateway.open(sub, (2, 0))
    node.hub.dispatch(_event(5))
    node.broker.gate.set()
    await node.settled(sub)
    written = bytes(transport.written)
    assert written.index(b"event: reset") < written.index(b"id: 5-0")
    assert transport.ids() == [5]


@pytest.mark.parametrize("failure", [RuntimeError("bug"), KeyError("x"), ValueError("bad")])
async def test_any_failure_mid_replay_closes_the_subscriber_never_a_silent_zombie(
    failure: Exception,
) -> None:
    node = Node([_event(ms) for ms in range(1, 5)])
    node.broker.fail = failure
    sub, transport = node.subscriber()
    node.gateway.open(sub, (2, 0))
    await node.settled(sub)
    assert transport.aborted
    node.hub.dispatch(_event(5))
    assert transport.ids() == []
    assert node.hub.subscribers == 0


async def test_ids_are_parsed_back_from_the_stream() -> None:
    # The recorder's own check: a position marker (`id:` alone) is not an event.
    transport = Recorder()
    transport.write(b"id: 7-0\n\n" + _event(8).wire(SSE))
    assert transport.ids() == [8]


def _change(ms: int, event_type: str, alert: Event, headline: str | None = None) -> Event:
    """A correction (with `headline`) or a retraction of `alert`."""
    fields = {"type": event_type, "alert_id": alert.id, "headline": headline}
    routing = {"regions": list(alert.regions), "language": "en", "priority": "breaking"}
    body = stored_body({**fields, **routing, "reason": "legal", "expires_ms": alert.expires_ms})
    return Event.decode(f"{ms}-0", body)


def _publish(node: Node, *events: Event) -> None:
    """What the broker does for each event: keep it in history, then hand it to the hub."""
    for event in events:
        node.broker.events.append(event)
        node.hub.dispatch(event)


async def test_a_page_kept_from_before_a_retraction_no_longer_serves_the_alert() -> None:
    alert = _event(5)
    node = Node([_event(ms) for ms in range(1, 5)] + [alert, _event(6)])
    _publish(node, _change(7, "correction", alert, "corrected 5"))
    first, seen = node.subscriber()
    node.gateway.open(first, (1, 0))
    await node.settled(first)
    assert b"alert 5" in seen.written
    assert b"corrected 5" in seen.written
    _publish(node, _change(8, "retraction", alert))
    later, transport = node.subscriber()
    node.gateway.open(later, (2, 0))
    await node.settled(later)
    # The kept page was sliced (no second read from its start), and the alert left out of it.
    assert node.broker.reads == [(1, 0), (7, 0)]
    assert transport.ids() == [3, 4, 6, 8]
    assert b"alert 5" not in transport.written
    assert b"corrected 5" not in transport.written


async def test_an_alert_buffered_during_a_replay_is_not_written_after_its_retraction() -> None:
    node = Node([_event(ms) for ms in range(1, 4)])
    sub, transport = node.subscriber()
    node.broker.gate.clear()
    node.gateway.open(sub, (1, 0))
    alert = _event(4)
    _publish(node, alert, _change(5, "correction", alert, "corrected 4"), _event(6))
    _publish(node, _change(7, "retraction", alert))
    node.broker.gate.set()
    await node.settled(sub)
    assert transport.ids() == [2, 3, 6, 7]
    assert b"alert 4" not in transport.written
    assert b"corrected 4" not in transport.written


def test_the_recent_cache_leaves_out_a_retracted_alert_and_its_corrections() -> None:
    hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=16)
    hub.sync((1, 0), lost=False)
    alert = _event(2)
    for event in (alert, _change(3, "correction", alert, "corrected 2"), _event(4)):
        hub.dispatch(event)
    assert [event.key for event in hub.recent_after((1, 0)) or []] == [(2, 0), (3, 0), (4, 0)]
    hub.dispatch(_change(5, "retraction", alert))
    assert [event.key for event in hub.recent_after((1, 0)) or []] == [(4, 0), (5, 0)]


@pytest.mark.parametrize("after", [5, 23, 24, 30, 39, 40])
def test_the_recent_cache_answers_a_resume_from_anywhere_in_it(after: int) -> None:
    """A full cache that has wrapped: only the events after the id, none twice, none lost."""
    hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=16)
    hub.sync((1, 0), lost=False)
    for ms in range(2, 41):
        hub.dispatch(_event(ms))
    recent = hub.recent_after((after, 0))
    if after < 24:
        # Events 25 to 40 are kept: a resume from 24 on is covered, one from before is not.
        assert recent is None
    else:
        assert [event.key for event in recent or []] == [(ms, 0) for ms in range(after + 1, 41)]


def test_the_recent_cache_answers_only_from_ids_it_dispatched() -> None:
    """An id inside the cached range that no dispatched event had (never handed out, or lost
    when a failover moved history backwards) is left to history to judge."""
    hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=16)
    hub.sync((1, 0), lost=False)
    for ms in (2, 3, 4):
        hub.dispatch(_event(ms))
    assert [event.key for event in hub.recent_after((1, 0)) or []] == [(2, 0), (3, 0), (4, 0)]
    assert [event.key for event in hub.recent_after((3, 0)) or []] == [(4, 0)]
    assert hub.recent_after((4, 0)) == []
    assert hub.recent_after((2, 7)) is None
    assert hub.recent_after((5, 0)) is None


async def test_a_client_ahead_of_the_node_gets_historys_reset_at_once() -> None:
    """An id past this node's position is not waited for when history does not hold it."""
    node = Node([_event(ms) for ms in range(1, 5)])
    node.broker.reset = True
    sub, transport = node.subscriber()
    node.gateway.open(sub, (9, 0))
    async with asyncio.timeout(1):
        await node.settled(sub)
    node.hub.dispatch(_event(5))
    assert b"event: reset" in transport.written
    assert not transport.aborted
    assert transport.ids() == [5]


async def test_a_short_replay_kept_for_a_storm_follows_new_events_retractions_and_syncs() -> None:
    """Resumes from one id share the replay's bytes only while the hub stands still."""
    hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=16)
    alert = _event(2)
    events = [_event(1), alert, _event(3), _event(4), _change(5, "retraction", alert)]
    broker = FakeBroker(events)
    gateway = Gateway(Settings(heartbeat_seconds=60), hub, broker)
    hub.sync((1, 0), lost=False)
    for event in events[1:3]:
        hub.dispatch(event)

    async def resume() -> list[int]:
        transport = Recorder()
        gateway.open(SseSubscriber(hub, Filter(), transport, set(), heartbeat=b""), (1, 0))
        async with asyncio.timeout(5):
            await asyncio.gather(*gateway._tasks)
        return transport.ids()

    assert await resume() == await resume() == [2, 3]
    hub.dispatch(events[3])
    assert await resume() == [2, 3, 4]
    hub.dispatch(events[4])
    assert await resume() == [3, 4, 5]
    assert broker.reads == []
    # A sync at the same position empties the node's memory: the resume goes to history.
    hub.sync((5, 0), lost=False)
    assert await resume() == [3, 4, 5]
    assert broker.reads == [(1, 0)]


def test_client_strings_keep_the_parse_caches_small() -> None:
    """A storm's repeats are parsed once, but padding or unknown parameters (a head's worth,
    16 KB) neither fill the caches nor change the answer."""
    kept = _resume_key.cache_info().currsize
    for pad in range(1, 50):
        assert parse_resume(" " * pad + "5-0" + "\t" * pad) == (5, 0)
    assert _resume_key.cache_info().currsize <= kept + 1

    hub = Hub(Metrics(), (SSE, WS), buffer_bytes=1 << 20, replay_cache=0)
    hub.sync((1, 0), lost=False)
    gateway = Gateway(Settings(heartbeat_seconds=60), hub, FakeBroker([_event(1)]))
    for query in (b"region=mena", b"region=mena&x=" + b"y" * 8000):
        transport = Recorder()
        request = SubscribeRequest(SSE_PATH, "GET", b"/v1/events?" + query, query, [])
        gateway.accept(request, transport, set())
        assert b"200 OK" in transport.written
        sub = transport.get_protocol()
        assert isinstance(sub, SseSubscriber)
        assert sub.filter.regions == frozenset({"mena"})
    assert gateway._parse_query.cache_info().currsize == 1
