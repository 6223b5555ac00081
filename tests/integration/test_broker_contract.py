"""The Broker contract: one behaviour suite run in-process over the memory broker and Redis.

Every test here runs once per broker, so the embedded default and the Redis one stay
equivalent; the Redis brokers share the session's private redis-server, or its private
Redis Cluster, each under a key prefix of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from service.broker.base import (
    Broker,
    BrokerUnavailable,
    Draft,
    IdempotencyConflict,
    IdempotencyKey,
    RateLimit,
    RateLimited,
    UnknownAlert,
)
from service.broker.memory import MemoryBroker
from service.broker.redis import RedisBroker
from service.config import Settings
from service.events import Event, EventKey, stored_body
from tests.faults.proxy import proxy_to
from tests.support.cluster import ClusterProcesses
from tests.support.processes import RedisProcess, redis_process, wait_until
from tests.support.sentinel import SentinelSet

NewBroker = Callable[..., Broker]


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The brokers' Redis settings: none for the memory broker."""
    if request.param == "memory":
        return {}
    if request.param == "cluster":
        cluster: ClusterProcesses = request.getfixturevalue("redis_cluster")
        return {"redis_url": cluster.url, "redis_cluster": True}
    if request.param == "sentinel":
        sentinel: SentinelSet = request.getfixturevalue("redis_sentinel")
        return sentinel.settings()
    redis: RedisProcess = request.getfixturevalue("redis")
    return {"redis_url": redis.url}


@pytest.fixture
async def new_broker(backend: dict[str, Any]) -> AsyncIterator[NewBroker]:
    """Make brokers with settings of the test's choosing; each is closed at the end."""
    made: list[Broker] = []

    def make(**settings: Any) -> Broker:
        config = Settings(**backend, key_prefix=f"contract-{uuid.uuid4().hex}", **settings)
        broker = RedisBroker(config) if config.uses_redis else MemoryBroker(config)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


@pytest.fixture
def broker(new_broker: NewBroker) -> Broker:
    return new_broker()


def alert(headline: str = "Breaking", *, ttl_s: int = 3600, **fields: Any) -> Draft:
    """A draft alert as ingest builds it (fields positional: the draft's names may change)."""
    body: dict[str, Any] = {"type": "alert", "headline": headline, "regions": ["mena"]}
    body |= {"language": "en", "priority": "breaking", **fields, "ttl": ttl_s}
    return Draft("alert", stored_body(body), ttl_ms=ttl_s * 1000)


def _change(event_type: str, of: Event, fields: dict[str, Any]) -> Draft:
    """A correction or retraction as ingest builds it: routed like the alert it changes."""
    routing = {k: of.payload.get(k) for k in ("regions", "language", "category", "priority")}
    body = {"type": event_type, "alert_id": of.id, **fields, **routing}
    body["expires_ms"] = of.expires_ms
    return Draft(event_type, stored_body(body), of.id, fields.get("headline"))


def correction(of: Event, headline: str) -> Draft:
    return _change("correction", of, {"headline": headline})


def retraction(of: Event) -> Draft:
    return _change("retraction", of, {"reason": "wrong"})


async def publish_all(broker: Broker, count: int) -> list[Event]:
    return [(await broker.publish(alert(f"alert {i}"))).event for i in range(count)]


def ids(events: list[Event]) -> list[str]:
    return [event.id for event in events]


def ghost() -> Event:
    """An alert under an id no broker handed out: one that does not exist."""
    return Event.decode("1-0", alert("never published").body)


class Listener:
    """The callbacks `start` is given: records every live event and every sync."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.syncs: list[tuple[EventKey, bool]] = []
        self.lost = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        waiter = self._waiting.pop(event.id, None)
        if waiter is not None:
            waiter.set_result(None)

    def on_sync(self, position: EventKey, lost: bool) -> None:
        self.syncs.append((position, lost))
        if lost:
            self.lost.set()

    async def until(self, event: Event, within: float = 5) -> list[str]:
        """Every id delivered, once `event` was: delivery is in id order, so whatever came
        before it has come (a sentinel instead of a sleep)."""
        if event.id not in ids(self.events):
            waiter = self._waiting[event.id] = asyncio.get_running_loop().create_future()
            async with asyncio.timeout(within):
                await waiter
        return ids(self.events)


async def test_publish_returns_the_event_with_increasing_ids(broker: Broker) -> None:
    published = [await broker.publish(alert(f"alert {i}", category="sports")) for i in range(5)]
    assert [p.replayed for p in published] == [False] * 5
    events = [p.event for p in published]
    keys = [event.key for event in events]
    assert keys == sorted(keys)
    assert len(set(keys)) == 5
    assert [event.payload["headline"] for event in events] == [f"alert {i}" for i in range(5)]
    assert all(event.alert_id == event.id and event.type == "alert" for event in events)
    assert events[0].category == "sports"
    assert await broker.position() == keys[-1]


async def test_start_feeds_every_later_event_in_id_order_and_syncs_once(broker: Broker) -> None:
    before = (await broker.publish(alert("before start"))).event
    listener = Listener()
    await broker.start(listener.on_event, listener.on_sync)
    assert broker.ready
    published = await asyncio.gather(*(broker.publish(alert(f"live {i}")) for i in range(20)))
    in_order = sorted((p.event for p in published), key=lambda event: event.key)
    assert await listener.until(in_order[-1]) == ids(in_order)
    assert listener.syncs == [(before.key, False)]


async def test_history_after_an_id_is_exactly_the_events_after_it(broker: Broker) -> None:
    start = await broker.position()
    events = await publish_all(broker, 6)
    history = await broker.history(start)
    assert not history.reset
    assert ids(history.events) == ids(events)
    for i, event in enumerate(events):
        after = await broker.history(event.key)
        assert not after.reset
        assert ids(after.events) == ids(events[i + 1 :])
    assert [e.payload for e in history.events] == [e.payload for e in events]


async def test_history_comes_in_pages_of_at_most_the_limit(broker: Broker) -> None:
    start = await broker.position()
    events = await publish_all(broker, 7)
    pages, after = [], start
    while page := (await broker.history(after, limit=3)).events:
        assert len(page) <= 3
        pages.append(ids(page))
        after = page[-1].key
    assert pages == [ids(events[0:3]), ids(events[3:6]), ids(events[6:7])]


async def test_history_from_before_the_floor_or_from_the_future_is_a_reset(
    broker: Broker,
) -> None:
    events = await publish_all(broker, 2)
    newest = events[-1].key
    for after in [(1, 0), (events[0].key[0] - 1000, 0), (newest[0] + 60_000, 0)]:
        history = await broker.history(after)
        assert history.reset, after
        assert history.events == []


async def test_history_from_an_id_it_never_held_is_a_reset(broker: Broker) -> None:
    """Inside the window, between two events, yet never handed out: what a resume id looks
    like when a failover lost it and later writes passed it (history moved backwards), or a
    client made it up. Nothing is known to follow it, so it is a reset; real ids still resume."""
    start = await broker.position()
    events = [(await broker.publish(alert("first"))).event]
    # Ids are (ms, seq): publish until a new millisecond leaves an unused id between two.
    for i in range(10_000):
        events.append((await broker.publish(alert(f"next {i}"))).event)
        if events[-1].key[0] > events[-2].key[0]:
            break
    before, after = events[-2].key, events[-1].key
    never = (before[0], before[1] + 1)
    assert before < never < after
    assert (await broker.history(never)).reset
    assert ids((await broker.history(before)).events) == [events[-1].id]
    assert ids((await broker.history(start)).events) == ids(events)


async def test_history_beyond_the_window_is_a_reset(new_broker: NewBroker) -> None:
    """Trims for real: 150 events over a window of 10 is past what either broker keeps
    (the memory broker keeps up to twice the window; Redis trims `MAXLEN ~` by whole
    stream nodes of 100 entries)."""
    broker = new_broker(history_size=10)
    events = await publish_all(broker, 150)
    window = await broker.history(events[-11].key)
    assert not window.reset
    assert ids(window.events) == ids(events[-10:])
    for trimmed in (events[0], events[100]):
        history = await broker.history(trimmed.key)
        assert history.reset, trimmed
        assert history.events == []


async def test_history_withholds_a_retracted_alert_and_its_corrections(broker: Broker) -> None:
    start = await broker.position()
    before, target, other = await publish_all(broker, 3)
    fixed = (await broker.publish(correction(target, "corrected text"))).event
    retracted = (await broker.publish(retraction(target))).event
    kept = [before, other, retracted]
    history = await broker.history(start)
    assert ids(history.events) == ids(kept)
    assert history.through == retracted.key
    assert b"alert 1" not in b"".join(e.data for e in history.events)
    # Read a page of one at a time, each page goes on after the last entry read, even
    # when that entry was withheld: nothing is skipped and no read repeats.
    pages, after = [], start
    while (page := await broker.history(after, limit=1)).through is not None:
        pages.append(ids(page.events))
        after = page.through
    assert pages == [[before.id], [], [other.id], [], [retracted.id]]
    assert ids((await broker.history(target.key)).events) == ids([other, retracted])
    assert ids((await broker.history(fixed.key)).events) == [retracted.id]


async def test_the_retracted_ids_are_swept_as_history_is_trimmed(new_broker: NewBroker) -> None:
    """150 retractions over a window of 10: the broker remembers only those history still
    holds (each broker trims as it does, see test_history_beyond_the_window_is_a_reset)."""
    broker = new_broker(history_size=10)
    for _ in range(150):
        target = (await broker.publish(alert("soon retracted"))).event
        await broker.publish(retraction(target))
    remembered, retained = await _retractions(broker)
    # Redis sweeps by millisecond: retractions of the oldest retained entry's millisecond
    # that were trimmed may stay until the next retraction's sweep (a few at most).
    assert 0 < retained <= remembered <= retained + 10
    assert remembered < 150


async def _retractions(broker: Broker) -> tuple[int, int]:
    """How many retracted ids the broker remembers, and how many retractions its history holds."""
    if isinstance(broker, MemoryBroker):
        retained = sum(event.type == "retraction" for event in broker._events)
        return len(broker._retracted), retained
    assert isinstance(broker, RedisBroker)
    entries = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]", await broker._redis.xrange(broker._stream)
    )
    retained = sum(b'"type":"retraction"' in fields[b"e"] for _, fields in entries)
    return int(await broker._redis.zcard(broker._retracted)), retained


async def test_live_alerts_newest_first_corrected_without_retracted_or_expired(
    broker: Broker,
) -> None:
    first, fixed, gone = await publish_all(broker, 3)
    await broker.publish(alert("expired", ttl_s=0))
    await broker.publish(correction(fixed, "fixed headline"))
    await broker.publish(retraction(gone))
    live = await broker.live_alerts()
    assert [a.event.id for a in live] == [fixed.id, first.id]
    assert [a.headline for a in live] == ["fixed headline", "alert 0"]
    assert live[0].payload() == {**fixed.payload, "headline": "fixed headline"}


async def test_alert_by_id_is_none_unless_live(broker: Broker) -> None:
    kept, gone = await publish_all(broker, 2)
    expired = (await broker.publish(alert("expired", ttl_s=0))).event
    await broker.publish(correction(kept, "corrected"))
    await broker.publish(retraction(gone))
    found = await broker.alert(kept.id)
    assert found is not None
    assert (found.event.id, found.headline) == (kept.id, "corrected")
    assert await broker.alert(gone.id) is None
    assert await broker.alert(expired.id) is None
    assert await broker.alert("1-0") is None


async def test_an_idempotent_replay_returns_the_first_answer_and_publishes_nothing(
    broker: Broker,
) -> None:
    listener = Listener()
    await broker.start(listener.on_event, listener.on_sync)
    key = IdempotencyKey(f"desk:{uuid.uuid4().hex}", "fingerprint-1")
    first = await broker.publish(alert("once"), key)
    again = await broker.publish(alert("once"), key)
    assert again.replayed
    assert not first.replayed
    assert again.event.id == first.event.id
    assert again.event.payload == first.event.payload
    assert ids((await broker.history(first.event.key)).events) == []
    sentinel = (await broker.publish(alert("sentinel"))).event
    assert await listener.until(sentinel) == [first.event.id, sentinel.id]


async def test_the_same_key_with_another_body_is_a_conflict(broker: Broker) -> None:
    key = f"desk:{uuid.uuid4().hex}"
    first = await broker.publish(alert("once"), IdempotencyKey(key, "fingerprint-1"))
    with pytest.raises(IdempotencyConflict):
        await broker.publish(alert("changed"), IdempotencyKey(key, "fingerprint-2"))
    assert ids((await broker.history(first.event.key)).events) == []


async def test_changing_an_unknown_alert_raises_and_publishes_nothing(broker: Broker) -> None:
    target, gone = await publish_all(broker, 2)
    await broker.publish(retraction(gone))
    position = await broker.position()
    drafts = [correction(ghost(), "x"), retraction(ghost())]
    drafts += [correction(gone, "x"), retraction(gone)]
    for draft in drafts:
        with pytest.raises(UnknownAlert):
            await broker.publish(draft)
    assert await broker.position() == position
    assert ids((await broker.history(position)).events) == []
    assert (await broker.alert(target.id)) is not None


async def test_the_rate_limit_raises_with_retry_after_and_replays_do_not_count(
    broker: Broker,
) -> None:
    rate = RateLimit(f"desk-{uuid.uuid4().hex}", limit=3, window_s=60)
    key = IdempotencyKey(f"desk:{uuid.uuid4().hex}", "fingerprint")
    assert not (await broker.publish(alert("counted 1"), key, rate)).replayed
    for _ in range(3):
        assert (await broker.publish(alert("counted 1"), key, rate)).replayed
    with pytest.raises(UnknownAlert):
        await broker.publish(correction(ghost(), "x"), rate=rate)
    await broker.publish(alert("counted 2"), rate=rate)
    last = await broker.publish(alert("counted 3"), rate=rate)
    with pytest.raises(RateLimited) as limited:
        await broker.publish(alert("one too many"), rate=rate)
    assert 0 < limited.value.retry_after <= 60
    assert ids((await broker.history(last.event.key)).events) == []
    other = RateLimit(f"wire-{uuid.uuid4().hex}", limit=3, window_s=60)
    assert not (await broker.publish(alert("another editor"), rate=other)).replayed


async def test_an_unreachable_redis_is_broker_unavailable() -> None:
    """Redis only: a private server the test stops, so every call meets a closed port."""
    with redis_process() as redis:
        broker = RedisBroker(Settings(redis_url=redis.url, key_prefix="contract-down"))
        try:
            listener = Listener()
            await broker.start(listener.on_event, listener.on_sync)
            assert broker.ready
            kept = (await broker.publish(alert("before"))).event
            redis.stop()
            with pytest.raises(BrokerUnavailable):
                await broker.publish(alert("during"))
            with pytest.raises(BrokerUnavailable):
                await broker.history(kept.key)
            with pytest.raises(BrokerUnavailable):
                await broker.position()
            with pytest.raises(BrokerUnavailable):
                await broker.alert(kept.id)
            with pytest.raises(BrokerUnavailable):
                await broker.live_alerts()
        finally:
            await broker.close()


async def test_a_reader_whose_history_moved_backwards_resets_instead_of_skipping() -> None:
    """Redis only: a replica promoted without the newest writes, which later writes on it then
    pass. The reader, back from its last id (one the new primary never held), must sync with
    `lost` instead of backfilling the later writes as though nothing was missing."""
    prefix = f"contract-{uuid.uuid4().hex}"
    with redis_process() as old, redis_process() as new:
        # Redis 7 waits 5 s for more replicas before a diskless full sync by default.
        old.command("CONFIG", "SET", "repl-diskless-sync-delay", "0")
        new.command("REPLICAOF", "127.0.0.1", str(old.port))
        async with proxy_to(old.port) as proxy:
            reader = RedisBroker(Settings(redis_url=proxy.url, key_prefix=prefix))
            on_old = RedisBroker(Settings(redis_url=old.url, key_prefix=prefix))
            on_new = RedisBroker(Settings(redis_url=new.url, key_prefix=prefix))
            try:
                listener = Listener()
                await reader.start(listener.on_event, listener.on_sync)
                kept = (await on_old.publish(alert("replicated"))).event
                await _replicated(new, f"{prefix}:events", kept.id)
                new.command("REPLICAOF", "NO", "ONE")
                lost = [(await on_old.publish(alert(f"lost {i}"))).event for i in range(3)]
                await listener.until(lost[-1])
                proxy.retarget(new.port)
                proxy.cut()
                passed = [(await on_new.publish(alert(f"after {i}"))).event for i in range(2)]
                assert passed[0].key > lost[-1].key
                proxy.resume()
                async with asyncio.timeout(10):
                    await listener.lost.wait()
                latest = (await on_new.publish(alert("after the reset"))).event
                delivered = await listener.until(latest)
            finally:
                for broker in (reader, on_old, on_new):
                    await broker.close()
    assert listener.syncs[-1] == (passed[-1].key, True)
    assert delivered == ids([kept, *lost, latest])


async def _replicated(replica: RedisProcess, stream: str, event_id: str) -> None:
    """Wait until the replica holds `event_id` in `stream`."""

    def holds() -> bool:
        return event_id.encode() in replica.command("XRANGE", stream, event_id, event_id)

    await asyncio.to_thread(wait_until, holds, 10, "the replica's copy")
