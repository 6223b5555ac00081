"""Retractions take the text down: once an alert is retracted, no replay, resume or listing
serves its headline (nor a correction's), on any node; the retraction itself still goes out.

Each check reads the raw bytes of the stream up to a sentinel published after the
retraction (events come in id order, so whatever was going to come has come) and searches
them for the headlines.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from tests.support.clients import publish, settle, sse_subscriber
from tests.support.nodes import node_fixtures
from tests.support.processes import RedisProcess, ServiceProcess, service_process

UNCACHED = {"BREAKING_REPLAY_CACHE_SIZE": "0"}
TRANSPORTS = ["sse", "ws", "ws-subscribe-op"]


# Memory and Redis nodes with no replay cache: every resume reads the broker's history.
uncached_memory_node, uncached_redis_node = node_fixtures("uncached", UNCACHED)


@pytest.fixture(params=["memory", "uncached_memory", "redis", "uncached_redis"])
def any_node(request: pytest.FixtureRequest) -> ServiceProcess:
    node: ServiceProcess = request.getfixturevalue(f"{request.param}_node")
    return node


@pytest.fixture(scope="module")
def pair(redis: RedisProcess) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two nodes on one Redis: one with its replay cache, one without."""
    with service_process(redis.url) as cached, service_process(redis.url, env=UNCACHED) as other:
        yield cached, other


@dataclass(frozen=True)
class Retracted:
    """An alert that was corrected, then retracted, and the ids around it."""

    before: str
    alert_id: str
    headline: str
    corrected: str
    retraction_id: str


async def retract_a_corrected_alert(
    client: httpx.AsyncClient, on: ServiceProcess, by: ServiceProcess, region: str
) -> Retracted:
    """Publish an alert on `on`, then correct and retract it on `by`."""
    tag = uuid.uuid4().hex[:10]
    before = await publish(client, on, f"before {tag}", (region,))
    alert = await publish(client, on, f"Retracted headline {tag}", (region,))
    auth = {"Authorization": f"Bearer {by.token}"}
    corrected = f"Corrected headline {tag}"
    response = await client.post(
        f"{by.url}/v1/alerts/{alert['id']}/corrections", json={"headline": corrected}, headers=auth
    )
    assert response.status_code == 201, response.text
    response = await client.request(
        "DELETE", f"{by.url}/v1/alerts/{alert['id']}", json={"reason": "legal"}, headers=auth
    )
    assert response.status_code == 200, response.text
    retraction = response.json()
    assert alert["headline"] not in response.text
    assert corrected not in response.text
    return Retracted(before["id"], alert["id"], alert["headline"], corrected, retraction["id"])


async def resume_raw(
    node: ServiceProcess, transport: str, after: str, region: str, until: str
) -> bytes:
    """Every byte a subscriber resuming after `after` receives, up to the event `until`."""
    async with asyncio.timeout(10):
        if transport == "sse":
            return await _sse_raw(node, after, region, until)
        return await _ws_raw(node, after, region, until, op=transport == "ws-subscribe-op")


async def _sse_raw(node: ServiceProcess, after: str, region: str, until: str) -> bytes:
    raw = b""
    headers = {"Last-Event-ID": after}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client,
        client.stream(
            "GET", f"{node.url}/v1/events", params={"region": region}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            raw += chunk
            if f"id: {until}\n".encode() in raw:
                return raw
    raise AssertionError(f"the stream ended before {until}: {raw!r}")


async def _ws_raw(node: ServiceProcess, after: str, region: str, until: str, *, op: bool) -> bytes:
    """With `op`, connect live first, then resume with a `subscribe` op."""
    query = f"region={region}" if op else f"region={region}&last_event_id={after}"
    raw = b""
    async with websockets.connect(f"{node.ws_url}/v1/ws?{query}", open_timeout=5) as ws:
        if op:
            while json.loads(await ws.recv())["event"] != "ready":
                pass
            subscribe = {"op": "subscribe", "region": [region], "last_event_id": after}
            await ws.send(json.dumps(subscribe))
        async for frame in ws:
            raw += frame.encode() if isinstance(frame, str) else frame
            if json.loads(frame).get("id") == until:
                return raw
    raise AssertionError(f"the socket closed before {until}: {raw!r}")


def assert_taken_down(raw: bytes, retracted: Retracted) -> None:
    assert retracted.headline.encode() not in raw
    assert retracted.corrected.encode() not in raw
    # The retraction itself goes out, naming the alert, so screens that show it remove it.
    assert retracted.retraction_id.encode() in raw
    assert retracted.alert_id.encode() in raw


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_resume_from_before_a_retracted_alert_never_serves_its_text(
    any_node: ServiceProcess, transport: str
) -> None:
    node = any_node
    async with httpx.AsyncClient() as client:
        retracted = await retract_a_corrected_alert(client, node, node, "asia")
        sentinel = await publish(client, node, "sentinel", ("asia",))
        raw = await resume_raw(node, transport, retracted.before, "asia", sentinel["id"])
    assert_taken_down(raw, retracted)
    assert sentinel["id"].encode() in raw


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_retraction_on_one_node_takes_the_text_down_on_the_other(
    pair: tuple[ServiceProcess, ServiceProcess], transport: str
) -> None:
    cached, other = pair
    async with httpx.AsyncClient() as client, sse_subscriber(cached, region="africa") as live:
        # The alert is seen live (and cached) on the first node, retracted on the second.
        retracted = await retract_a_corrected_alert(client, cached, other, "africa")
        # The first node has dispatched the retraction once it has the sentinel after it.
        sentinel = await settle(client, other, live, regions=("africa",))
        assert live.ids[:2] == [retracted.before, retracted.alert_id]
        for node in (cached, other):
            raw = await resume_raw(node, transport, retracted.before, "africa", sentinel)
            assert_taken_down(raw, retracted)


async def test_the_listing_and_the_alert_by_id_drop_a_retracted_alert(
    any_node: ServiceProcess,
) -> None:
    node = any_node
    async with httpx.AsyncClient() as client:
        retracted = await retract_a_corrected_alert(client, node, node, "latin-america")
        listing = await client.get(
            f"{node.url}/v1/alerts", params={"region": "latin-america", "limit": 500}
        )
        by_id = await client.get(f"{node.url}/v1/alerts/{retracted.alert_id}")
    assert listing.status_code == 200
    assert retracted.before in listing.text
    assert retracted.headline not in listing.text
    assert retracted.corrected not in listing.text
    assert by_id.status_code == 404
    assert retracted.headline not in by_id.text
