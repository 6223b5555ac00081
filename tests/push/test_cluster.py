"""Two nodes on one private Redis: a node killed mid-delivery leaves its job to the other."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from tests.push.conftest import push_env
from tests.push.helpers import publish, subscriber
from tests.push.pushservice import PushService
from tests.support.processes import RedisProcess, ServiceProcess, redis_process, service_process

PREFIX = "cluster"
LANES = 4


@pytest.fixture
def cluster() -> Iterator[tuple[RedisProcess, list[ServiceProcess]]]:
    env = push_env(BREAKING_KEY_PREFIX=PREFIX, BREAKING_PUSH_CONCURRENCY=str(LANES))
    with (
        redis_process() as redis,
        service_process(redis.url, env=env) as first,
        service_process(redis.url, env=env) as second,
    ):
        yield redis, [first, second]


async def _owner(redis: Redis) -> str:
    """The consumer (`host:pid`) holding the one pending push job."""
    pending = await redis.xpending_range(f"{PREFIX}:events", "push", "-", "+", 10)
    assert len(pending) == 1, pending
    consumer = pending[0]["consumer"]
    assert isinstance(consumer, bytes), consumer
    return consumer.decode()


async def test_node_killed_mid_delivery_every_subscription_gets_the_alert_once(
    cluster: tuple[RedisProcess, list[ServiceProcess]], pushes: PushService
) -> None:
    redis_server, nodes = cluster
    browsers = [pushes.browser(f"reader-{i}") for i in range(30)]
    witness = pushes.browser("witness")
    # The first eight are accepted; then every push is held, so a node is mid-job.
    pushes.hang_after = 8
    redis = Redis.from_url(redis_server.url)
    try:
        async with subscriber(nodes[0]) as subs, httpx.AsyncClient(timeout=5) as client:
            for browser in browsers:
                await subs.subscribe(browser, regions=["mena"])
            alert = await publish(nodes[1], client)
            await pushes.wait(lambda: len(pushes.accepted) == 8 and pushes.held == LANES)
            owner = await _owner(redis)
            victim = next(n for n in nodes if n.proc and owner.endswith(f":{n.proc.pid}"))
            survivor = next(n for n in nodes if n is not victim)
            victim.kill()
            # Its held pushes were never answered: the push service did not accept them.
            await pushes.wait(lambda: pushes.aborted == LANES)
            pushes.release()
            await pushes.wait(lambda: all(pushes.received(b.name) for b in browsers), within=15)
            # The survivor takes one job at a time: once the next event's push arrives, the
            # killed job is over and anything it would send twice has been sent.
            subs.node = survivor  # the victim is gone: talk to the survivor from now on
            await subs.subscribe(witness, regions=["europe"])
            await publish(survivor, client, regions=["europe"])
            await pushes.wait(lambda: pushes.received(witness.name))
            pending = await redis.xpending_range(f"{PREFIX}:events", "push", "-", "+", 10)
            assert alert["id"].encode() not in [entry["message_id"] for entry in pending]
    finally:
        await redis.aclose()
    assert not pushes.refused
    for browser in browsers:
        assert [p.message["id"] for p in pushes.received(browser.name)] == [alert["id"]]
