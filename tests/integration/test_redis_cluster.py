"""Nodes on a private Redis Cluster: every key in the hash tag's slot, live events over sharded
pub/sub that follows the slot when it moves, and a primary failover under publishing.

The behaviour suites run on a cluster node too (the `node`, `pair` and `push_node` fixtures,
and the Broker contract); this module holds what only a cluster has.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from redis import Redis

from tests.faults.verdict import assert_no_silent_gap
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
from tests.support.editors import Editor, by_id, editing, failover_time, until_acknowledged_after
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


async def test_a_primary_failover_answers_503_then_continues_and_every_201_arrives_once() -> None:
    """Six cluster nodes (three primaries, a replica each) and a second replica for the tag's
    slot: its primary is SIGKILLed while editors publish through two nodes with
    BREAKING_REDIS_MIN_REPLICAS_ACK=1, each retrying its alert under an Idempotency-Key until a
    201 as the 503 asks; a replica takes over within the node timeout and the other one then
    acknowledges."""
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
            async with httpx.AsyncClient() as client, _everywhere(one, two) as subscribers:
                async with editing(one, two) as editors:
                    await until_acknowledged_after(editors, time.monotonic())
                    victim.stop()
                    killed = time.monotonic()
                    await until_acknowledged_after(editors, killed)
                closer = Editor(two)
                final = await closer.publish(client, asyncio.Event())
                assert final is not None
                for received in subscribers:
                    await received.wait_id(final, within=15)
                acknowledged = by_id([i for e in [*editors, closer] for i in e.ids])
                # History on the promoted replica holds every acknowledged alert.
                async with sse_subscriber(
                    two, last_event_id=acknowledged[0], region="mena"
                ) as late:
                    await late.wait_id(final, within=10)
            for node in (one, two):
                await readyz_becomes(node, 200)
            assert "unexpectedly" not in one.output() + two.output()
    gap, longest = failover_time(editors, killed)
    refused = sum(e.unreplicated + e.unavailable for e in editors)
    print(
        f"\ncluster failover: {gap:.2f} s from the last 201 before the kill to the first 201 "
        f"asked after it; longest time without a 201 {longest:.2f} s; {refused} publishes "
        "answered 503 meanwhile"
    )
    assert refused, "the failover cost no 503: the kill missed the slot's primary"
    failed = sum(e.failed for e in [*editors, closer])
    for received in subscribers:
        assert_no_silent_gap(acknowledged, received, unanswered=failed)
        assert received.of_kind("reset") == []
    # Alerts whose editor gave up at the end were stored too, without a 201: left out here.
    assert [i for i in late.ids if i in set(acknowledged)] == acknowledged[1:]
