"""A slow subscription link: the node that answered a write still lists it at once."""

from __future__ import annotations

import httpx

from tests.faults.proxy import proxy_to
from tests.support.clients import publish, sse_subscriber
from tests.support.processes import redis_process, serving

# Far longer than a publish round trip: without the wait, the listing would miss each alert.
DELAY_S = 0.3


async def test_the_node_that_answered_a_write_lists_it_despite_a_slow_subscription() -> None:
    with redis_process() as redis:
        async with (
            proxy_to(redis.port) as proxy,
            serving(proxy.url) as node,
            httpx.AsyncClient(base_url=node.url) as client,
            sse_subscriber(node, region="europe") as sse,
        ):
            proxy.subscription_delay = DELAY_S
            for i in range(5):
                alert = await publish(client, node, f"Own write {i}", ("europe",))
                listed = await client.get("/v1/alerts", params={"region": "europe", "limit": 1})
                assert [shown["id"] for shown in listed.json()["alerts"]] == [alert["id"]]
                # Its subscribers' fan-out had begun too.
                await sse.wait_events(i + 1, within=2)
