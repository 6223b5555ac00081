"""Several nodes on one private Redis (or Redis Cluster), and that Redis failing under them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clients import publish, settle, sse_subscriber, ws_subscriber
from tests.support.processes import (
    RedisProcess,
    ServiceProcess,
    readyz_becomes,
    redis_process,
    service_env,
    service_process,
)


@pytest.fixture(scope="module", params=["redis", "cluster"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two nodes on the private Redis, then on the private Redis Cluster, so that every
    cross-node case here holds on both."""
    if request.param == "cluster":
        url, env = request.getfixturevalue("redis_cluster").url, {"BREAKING_REDIS_CLUSTER": "true"}
    else:
        url, env = request.getfixturevalue("redis").url, {}
    with service_process(url, env=env) as one, service_process(url, env=env) as two:
        yield one, two


async def test_an_alert_posted_to_either_node_reaches_subscribers_on_both(
    pair: tuple[ServiceProcess, ServiceProcess],
) -> None:
    one, two = pair
    async with (
        httpx.AsyncClient() as client,
        sse_subscriber(one, region="mena") as on_one,
        ws_subscriber(two, region="mena") as on_two,
        sse_subscriber(two, region="europe") as elsewhere,
    ):
        a = await publish(client, one, "via node one", ("mena",))
        b = await publish(client, two, "via node two", ("mena",))
        await on_one.wait_events(2)
        await on_two.received.wait_events(2)
        assert on_one.ids == on_two.received.ids == [a["id"], b["id"]]
        mark = await settle(client, one, elsewhere, regions=("europe",))
        assert elsewhere.ids == [mark]


async def test_idempotency_holds_across_nodes(pair: tuple[ServiceProcess, ServiceProcess]) -> None:
    one, two = pair
    headers = {"Authorization": f"Bearer {one.token}", "Idempotency-Key": uuid.uuid4().hex}
    body = {"headline": "retried through the other node", "regions": ["africa"], "language": "en"}
    async with httpx.AsyncClient() as client, sse_subscriber(two, region="africa") as sub:
        first = await client.post(f"{one.url}/v1/alerts", json=body, headers=headers)
        again = await client.post(f"{two.url}/v1/alerts", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        mark = await settle(client, one, sub, regions=("africa",))
        assert sub.ids == [first.json()["id"], mark]


async def test_resume_on_another_node(pair: tuple[ServiceProcess, ServiceProcess]) -> None:
    one, two = pair
    async with httpx.AsyncClient() as client:
        async with sse_subscriber(one, region="asia") as before:
            seen = await publish(client, one, "seen on one", ("asia",))
            await before.wait_events(1)
        missed = await publish(client, one, "missed", ("asia",))
        async with sse_subscriber(two, last_event_id=seen["id"], region="asia") as after:
            await after.wait_events(1)
            assert after.ids == [missed["id"]]


async def test_cut_subscription_is_backfilled_from_the_stream() -> None:
    """Redis drops a node's pub/sub connection while the other node keeps publishing."""
    with (
        redis_process() as redis,
        service_process(redis.url) as cut,
        service_process(redis.url) as other,
    ):
        async with httpx.AsyncClient() as client, sse_subscriber(cut, region="europe") as sub:
            sent = []
            for round_ in range(5):
                redis.command("CLIENT", "KILL", "TYPE", "pubsub")
                sent += [
                    await publish(client, other, f"cut {round_}.{i}", ("europe",)) for i in range(4)
                ]
            mark = await settle(client, other, sub, regions=("europe",), within=15)
            assert sub.ids == [*(e["id"] for e in sent), mark]
        assert "lost Redis" in cut.output()


async def test_redis_restart_with_persistence_loses_nothing_and_readyz_follows() -> None:
    with (
        redis_process(appendonly=True) as redis,
        service_process(redis.url) as one,
        service_process(redis.url) as two,
    ):
        async with httpx.AsyncClient() as client, sse_subscriber(one, region="palestine") as sub:
            before = await publish(client, two, "before the outage", ("palestine",))
            await sub.wait_events(1)
            redis.command("CONFIG", "SET", "appendfsync", "always")
            redis.stop()
            await readyz_becomes(one, 503)
            down = await client.post(
                f"{two.url}/v1/alerts",
                json={"headline": "during", "regions": ["palestine"], "language": "en"},
                headers={"Authorization": f"Bearer {two.token}"},
            )
            assert down.status_code == 503
            assert down.headers["retry-after"]
            redis.start(appendonly=True)
            await readyz_becomes(two, 200)
            after = await publish(client, two, "after the outage", ("palestine",))
            await readyz_becomes(one, 200)
            mark = await settle(client, two, sub, regions=("palestine",), within=15)
            assert sub.ids == [before["id"], after["id"], mark]
            assert sub.controls == []


async def test_redis_back_empty_sends_reset_then_continues() -> None:
    with redis_process() as redis, service_process(redis.url) as node:
        async with httpx.AsyncClient() as client, sse_subscriber(node, region="mena") as sub:
            old = await publish(client, node, "before Redis lost everything", ("mena",))
            await sub.wait_events(1)
            redis.stop()
            await readyz_becomes(node, 503)
            redis.start()
            await readyz_becomes(node, 200)
            await sub.wait_control("reset", within=10)
            new = await publish(client, node, "after", ("mena",))
            await sub.wait_events(2)
            assert sub.ids == [old["id"], new["id"]]
        async with sse_subscriber(node, last_event_id=old["id"], region="mena") as late:
            await late.wait_control("reset")


def test_workers_share_redis() -> None:
    with redis_process() as redis, service_process(redis.url, "--workers", "2") as node:
        # /readyz answers once one worker is up; the point is that both serve, so wait for both.
        deadline = time.monotonic() + 20
        while node.output().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, node.output()
            time.sleep(0.1)

        async def run() -> None:
            async with httpx.AsyncClient() as client:
                # Connections spread over the two worker processes; every one must get the alert.
                subs = [sse_subscriber(node, region="us-canada") for _ in range(8)]
                received = [await s.__aenter__() for s in subs]
                try:
                    sent = await publish(client, node, "to every worker", ("us-canada",))
                    for r in received:
                        await r.wait_events(1)
                        assert r.ids == [sent["id"]]
                finally:
                    for s in subs:
                        await s.__aexit__(None, None, None)

        asyncio.run(run())
        assert node.output().count("Application startup complete") == 2


def test_workers_refused_on_the_memory_broker() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--workers", "2"],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "BREAKING_REDIS_URL" in result.stderr


def test_unreachable_redis_starts_unready_then_recovers() -> None:
    redis = RedisProcess()
    node = ServiceProcess(env=service_env(redis.url))
    node.proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(node.port)],
        env=node.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status != 503:
            try:
                status = httpx.get(f"{node.url}/readyz", timeout=0.5).status_code
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 503
        events = httpx.get(f"{node.url}/v1/events", timeout=2)
        assert events.status_code == 503
        redis.start()
        try:
            asyncio.run(readyz_becomes(node, 200))
        finally:
            redis.stop()
    finally:
        node.kill()


def _workers(pid: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        children = [int(child) for child in listing.read().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_workers_end_with_their_supervisor_even_when_it_is_killed() -> None:
    with redis_process() as redis, service_process(redis.url, "--workers", "2") as node:
        assert node.proc is not None
        supervisor = node.proc.pid
        deadline = time.monotonic() + 20
        while len(workers := _workers(supervisor)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2
        node.kill()
        deadline = time.monotonic() + 20
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
        assert alive == [], "workers outlived a SIGKILLed supervisor"
