"""Nodes on a private Redis Cluster: every key in the hash tag's slot, live events over sharded
pub/sub that follows the slot when it moves, and a primary failover under publishing.

The behaviour suites run on a cluster node too (the `node`, `pair` and `push_node` fixtures,
and the Broker contract); this module holds what only a cluster has.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from redis import Redis

from tests.push.conftest import push_env
from tests.push.helpers import subscriber
from tests.push.pushservice import Browser
from tests.support.clients import (
    Received,
    publish,
    settle,
    sse_subscriber,
    ws_subscriber,
)
from tests.support.cluster import ClusterProcesses, cluster_processes
from tests.support.processes import RedisProcess, ServiceProcess, readyz_becomes, service_process

PREFIX = "cluster-e2e"
TAG = "{cluster-e2e}"
ENV = {"BREAKING_REDIS_CLUSTER": "true", "BREAKING_KEY_PREFIX": PREFIX}


@pytest.fixture(scope="module")
def pair(redis_cluster: ClusterProcesses) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two nodes with Web Push on, the first named by one node of the cluster, the second by
    another: either node is enough to find the cluster."""
    env = push_env(**ENV)
    urls = [node.url for node in redis_cluster.nodes[:2]]
    with service_process(urls[0], env=env) as one, service_process(urls[1], env=env) as two:
        yield one, two


def _shard_subscribers(node: RedisProcess) -> int:
    """How many connections `node` holds subscribed to the live shard channel."""
    with Redis(port=node.port) as redis:
        reply = redis.execute_command("PUBSUB", "SHARDNUMSUB", f"{TAG}:live")
    return int(reply[1])


async def _until(probe: Callable[[], bool], within: float = 15) -> None:
    """Poll until `probe()` is true (a positive wait: never a sleep before asserting)."""
    async with asyncio.timeout(within):
        while not probe():  # noqa: ASYNC110 - the state polled lives in other processes
            await asyncio.sleep(0.05)


async def test_every_key_lives_in_the_hash_tag_slot_with_the_live_channel(
    pair: tuple[ServiceProcess, ServiceProcess], redis_cluster: ClusterProcesses
) -> None:
    one, two = pair
    token = {"Authorization": f"Bearer {one.token}"}
    async with httpx.AsyncClient() as client, subscriber(two) as push:
        await push.subscribe(Browser("http://127.0.0.1:9/push/unheard"), regions=["africa"])
        body = {"headline": "keyed", "regions": ["mena"], "language": "en"}
        headers = {**token, "Idempotency-Key": uuid.uuid4().hex}
        alert = (await client.post(f"{one.url}/v1/alerts", json=body, headers=headers)).json()
        fixed = await client.post(
            f"{two.url}/v1/alerts/{alert['id']}/corrections", json={"headline": "re"}, headers=token
        )
        assert fixed.status_code == 201, fixed.text
        gone = await publish(client, one, "soon retracted")
        retracted = await client.request(
            "DELETE", f"{two.url}/v1/alerts/{gone['id']}", json={"reason": "x"}, headers=token
        )
        assert retracted.status_code == 200, retracted.text
        owner = redis_cluster.primary_of(f"{TAG}:events")
        found: dict[int, list[str]] = {}
        for node in redis_cluster.alive:
            with Redis(port=node.port) as redis:
                found[node.port] = sorted(k.decode() for k in redis.keys(f"*{PREFIX}*"))
    assert [port for port, keys in found.items() if keys and port != owner.port] == []
    keys = found[owner.port]
    assert all(key.startswith(f"{TAG}:") for key in keys), keys
    names = {key.removeprefix(f"{TAG}:").split(":")[0] for key in keys}
    expected = {"events", "meta", "alerts", "corrected", "expiry", "retracted", "audit", "idem"}
    assert names >= expected | {"rate", "push"}, keys
    assert f"{TAG}:push:region:africa" in keys
    # Both nodes hear live events on the owner of the keys' slot, over sharded pub/sub.
    assert _shard_subscribers(owner) == 2


@contextlib.asynccontextmanager
async def _everywhere(*nodes: ServiceProcess) -> AsyncIterator[list[Received]]:
    """An SSE and a WebSocket subscriber to mena on each node, all live."""
    async with contextlib.AsyncExitStack() as stack:
        subscribers = []
        for node in nodes:
            subscribers.append(await stack.enter_async_context(sse_subscriber(node, region="mena")))
            ws = await stack.enter_async_context(ws_subscriber(node, region="mena"))
            subscribers.append(ws.received)
        yield subscribers


async def test_a_slot_migration_moves_both_subscriptions_and_loses_nothing(
    pair: tuple[ServiceProcess, ServiceProcess], redis_cluster: ClusterProcesses
) -> None:
    one, two = pair
    async with httpx.AsyncClient() as client, _everywhere(one, two) as subscribers:
        before = await publish(client, one, "before the slot moves")
        for received in subscribers:
            await received.wait_id(before["id"])
        source = redis_cluster.primary_of(f"{TAG}:events")
        target = next(node for node, _ in redis_cluster.primaries() if node is not source)
        redis_cluster.move_slot(f"{TAG}:events", target)
        # Redis sends `sunsubscribe` to the old owner's shard subscribers: both nodes
        # resubscribe on the new owner.
        await _until(lambda: _shard_subscribers(target) == 2)
        after = await publish(client, two, "after the slot moved")
        mark = await settle(client, one, *subscribers)
    for received in subscribers:
        assert received.ids == [before["id"], after["id"], mark]
        assert received.of_kind("reset") == []
    assert "sunsubscribe" in one.output()
    assert "sunsubscribe" in two.output()


async def _publish_until_stopped(
    client: httpx.AsyncClient,
    node: ServiceProcess,
    acked: list[tuple[float, str]],
    refused: list[float],
    stop: asyncio.Event,
) -> None:
    """Publish one alert at a time until told to stop; only 201 and 503 are allowed answers."""
    headers = {"Authorization": f"Bearer {node.token}"}
    body = {"headline": "during the failover", "regions": ["mena"], "language": "en"}
    while not stop.is_set():
        response = await client.post(f"{node.url}/v1/alerts", json=body, headers=headers)
        assert response.status_code in (201, 503), response.text
        if response.status_code == 201:
            acked.append((time.monotonic(), response.json()["id"]))
        else:
            assert response.headers["retry-after"]
            refused.append(time.monotonic())
        await asyncio.sleep(0.01)


def _order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def test_a_primary_failover_answers_503_then_continues_and_every_201_arrives_once() -> None:
    """Six cluster nodes (three primaries, a replica each) and a second replica for the tag's
    slot: its primary is SIGKILLed while two nodes publish with BREAKING_REDIS_MIN_REPLICAS_ACK=1;
    a replica takes over within the node timeout and the other one then acknowledges."""
    with cluster_processes(replicas=1, node_timeout_ms=1000) as cluster:
        victim = cluster.primary_of(f"{TAG}:events")
        other = next(node for node, _ in cluster.primaries() if node is not victim)
        # One node is named by the primary about to die, the other by a primary that lives;
        # no replay cache, so the late subscriber's resume reads the promoted replica's stream.
        # A 201 waits for a replica, so the promoted one holds every acknowledged alert.
        env = {**ENV, "BREAKING_REPLAY_CACHE_SIZE": "0", "BREAKING_REDIS_MIN_REPLICAS_ACK": "1"}
        with (
            cluster.spare_replica(victim),
            service_process(victim.url, env=env) as one,
            service_process(other.url, env=env) as two,
        ):
            acked: list[tuple[float, str]] = []
            refused: list[float] = []
            stop = asyncio.Event()
            async with (
                httpx.AsyncClient(timeout=10) as client,
                _everywhere(one, two) as subscribers,
            ):
                publishers = [
                    asyncio.create_task(_publish_until_stopped(client, n, acked, refused, stop))
                    for n in (one, two)
                ]
                await _until(lambda: len(acked) >= 20)
                victim.stop()
                killed = time.monotonic()
                await _until(lambda: sum(at > killed for at, _ in acked) >= 20, within=30)
                stop.set()
                await asyncio.gather(*publishers)
                mark = await settle(client, two, *subscribers, within=15)
                # The oldest acknowledged id, not the first answered: two nodes publishing in
                # the same millisecond may be answered out of id order.
                resumed_from = min((event_id for _, event_id in acked), key=_order)
                async with sse_subscriber(two, last_event_id=resumed_from, region="mena") as late:
                    await late.wait_id(mark, within=10)
            for node in (one, two):
                await readyz_becomes(node, 200)
            assert "unexpectedly" not in one.output() + two.output()
    # The failover as editors see it: the longest stretch without a 201 (a publish in flight
    # at the kill may still be answered 201 after it, so the kill's time is no edge).
    answered = sorted(at for at, _ in acked)
    gap = max(later - earlier for earlier, later in itertools.pairwise(answered))
    print(
        f"\ncluster failover: {gap:.2f}s from the last 201 before it to the first after "
        f"({len(refused)} publishes answered 503 meanwhile)"
    )
    assert refused, "the failover cost no 503: the kill missed the slot's primary"
    published = {event_id for _, event_id in acked}
    for received in subscribers:
        ids = received.ids
        assert ids == sorted(ids, key=_order)
        assert len(set(ids)) == len(ids)
        assert received.of_kind("reset") == []
        assert published <= set(ids), sorted(published - set(ids))
        # A publish in flight when the primary died may be stored though its answer was a 503.
        assert len(set(ids) - published - {mark}) <= len(publishers)
    # Nothing acknowledged was lost from the history the promoted replica holds.
    lost = published - {resumed_from} - set(late.ids)
    assert not lost, sorted(lost)
