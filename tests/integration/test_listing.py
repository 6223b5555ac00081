"""GET /v1/alerts is served from the node's own view: current, validated by ETag, no Redis reads."""

from __future__ import annotations

import asyncio

import httpx
import redis

from tests.support.clients import publish, sse_subscriber
from tests.support.processes import RedisProcess, ServiceProcess, redis_process, service_process


def _auth(node: ServiceProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.token}"}


async def test_the_listing_follows_alerts_corrections_and_retractions(
    node: ServiceProcess,
) -> None:
    async with httpx.AsyncClient(base_url=node.url) as client:
        first = await publish(client, node, "First", ("asia",))
        second = await publish(client, node, "Second", ("asia",))
        await client.post(
            f"/v1/alerts/{first['id']}/corrections",
            json={"headline": "First, corrected"},
            headers=_auth(node),
        )
        await client.delete(f"/v1/alerts/{second['id']}", headers=_auth(node))
        listed = (await client.get("/v1/alerts", params={"region": "asia"})).json()["alerts"]
        ids = [alert["id"] for alert in listed]
        assert second["id"] not in ids
        mine = next(alert for alert in listed if alert["id"] == first["id"])
        assert mine["headline"] == "First, corrected"
        shown = await client.get(f"/v1/alerts/{first['id']}")
        assert shown.json()["headline"] == "First, corrected"
        assert (await client.get(f"/v1/alerts/{second['id']}")).status_code == 404


async def test_an_unchanged_listing_is_a_304_and_a_publish_changes_its_etag(
    node: ServiceProcess,
) -> None:
    async with httpx.AsyncClient(base_url=node.url) as client:
        await publish(client, node, "Before", ("africa",))
        first = await client.get("/v1/alerts", params={"region": "africa"})
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get(
            "/v1/alerts", params={"region": "africa"}, headers={"If-None-Match": etag}
        )
        assert again.status_code == 304
        assert again.content == b""
        await publish(client, node, "After", ("africa",))
        # Read your writes: the 201 comes once this node's listing has the alert.
        changed = await client.get(
            "/v1/alerts", params={"region": "africa"}, headers={"If-None-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.json()["alerts"][0]["headline"] == "After"


def _listing_reads(server: RedisProcess) -> int:
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
        for name in ("zrevrangebyscore", "hmget", "hget")
    )


def test_a_first_paint_storm_reads_nothing_from_redis() -> None:
    with redis_process() as server, service_process(server.url) as node:

        async def storm() -> None:
            async with httpx.AsyncClient(base_url=node.url) as client:
                # The node's view has the alert once the node has dispatched it.
                async with sse_subscriber(node, region="europe") as sub:
                    sent = await publish(client, node, "Storm", ("europe",))
                    await sub.wait_events(1)
                before = _listing_reads(server)
                answers = await asyncio.gather(
                    *(client.get("/v1/alerts", params={"region": "europe"}) for _ in range(300))
                )
                assert {a.status_code for a in answers} == {200}
                assert all(a.json()["alerts"][0]["id"] == sent["id"] for a in answers)
                assert _listing_reads(server) == before

        asyncio.run(storm())
