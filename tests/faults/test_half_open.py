"""A Redis link that goes silent without closing: the node notices within two ping intervals."""

from __future__ import annotations

import httpx

from tests.faults.proxy import proxy_to
from tests.faults.verdict import assert_no_silent_gap
from tests.support.clients import publish, sse_subscriber, ws_subscriber
from tests.support.processes import readyz_becomes, redis_process, service_process, serving

PING_S = 1.0


async def test_a_silent_link_makes_the_node_unready_then_it_recovers_and_backfills() -> None:
    with redis_process() as redis, service_process(redis.url) as other:
        async with (
            proxy_to(redis.port) as proxy,
            serving(proxy.url, env={"BREAKING_REDIS_PING_SECONDS": str(PING_S)}) as held,
            httpx.AsyncClient() as client,
            sse_subscriber(held, region="asia") as sse,
            ws_subscriber(held, region="asia") as ws,
        ):
            before = (await publish(client, other, "before", ("asia",)))["id"]
            await sse.wait_events(1)
            await ws.received.wait_events(1)
            proxy.hold()
            noticed = await readyz_becomes(held, 503)
            during = [
                (await publish(client, other, f"during {i}", ("asia",)))["id"] for i in range(5)
            ]
            proxy.resume()
            recovered = await readyz_becomes(held, 200)
            sentinel = (await publish(client, other, "sentinel", ("asia",)))["id"]
            await sse.wait_events(7, within=10)
            await ws.received.wait_events(7, within=10)
        print(f"unready {noticed:.1f} s after the link went silent; ready {recovered:.1f} s after")
        # Silence for one interval, then a ping unanswered for another; polling adds a little.
        assert noticed <= 2 * PING_S + 1
        for name, received in (("sse", sse), ("ws", ws.received)):
            assert_no_silent_gap([before, *during, sentinel], received, name)
            assert received.of_kind("reset") == []
