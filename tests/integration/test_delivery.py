"""Live delivery over SSE and WebSocket, on both brokers: filters, formats, fan-out."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AbstractAsyncContextManager

import httpx

from tests.support.clients import (
    Received,
    WsClient,
    publish,
    settle,
    sse_subscriber,
    ws_subscriber,
)
from tests.support.processes import ServiceProcess


def _tag() -> str:
    """A unique headline prefix, so tests sharing a node only look at their own alerts."""
    return uuid.uuid4().hex[:8]


async def test_sse_delivers_matching_alert_and_not_others(node: ServiceProcess) -> None:
    async with (
        httpx.AsyncClient() as client,
        sse_subscriber(node, region="mena") as mena,
        sse_subscriber(node, region="europe") as europe,
    ):
        sent = await publish(client, node, f"{_tag()} MENA alert", ("mena",))
        [got] = await mena.wait_events(1)
        assert got == sent
        mark = await settle(client, node, europe, regions=("europe",))
        assert europe.ids == [mark]


async def test_event_json_matches_the_contract(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        event = await publish(
            client,
            node,
            "Several airlines cancel flights",
            ("latin-america",),
            category="politics",
            source="Correspondent in Caracas",
            url="https://example.org/news/123",
            ttl_seconds=3600,
        )
    assert event["type"] == "alert"
    assert event["alert_id"] == event["id"]
    assert event["regions"] == ["latin-america"]
    assert event["priority"] == "breaking"
    ms = int(event["id"].split("-")[0])
    assert event["published_at"].endswith(f".{ms % 1000:03d}Z")
    assert set(event) == {
        "id",
        "type",
        "alert_id",
        "headline",
        "regions",
        "language",
        "category",
        "priority",
        "source",
        "url",
        "published_at",
        "expires_at",
    }


async def test_websocket_frames_carry_the_same_event(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client, ws_subscriber(node, region="palestine") as ws:
        sent = await publish(client, node, f"{_tag()} Gaza", ("palestine",))
        [got] = await ws.received.wait_events(1)
        assert got == sent
        assert ws.received.last_id == sent["id"]


async def test_filters_language_category_and_minimum_priority(node: ServiceProcess) -> None:
    async with (
        httpx.AsyncClient() as client,
        sse_subscriber(node, region="asia", language="ar") as arabic,
        ws_subscriber(node, region="asia", category="sports") as sports,
        sse_subscriber(node, region="asia", priority="flash") as flash_only,
        ws_subscriber(node) as everything,
    ):
        tag = _tag()
        en = await publish(client, node, f"{tag} en", ("asia",), language="en", priority="update")
        ar = await publish(client, node, f"{tag} ar", ("asia",), language="ar", category="sports")
        fl = await publish(client, node, f"{tag} flash", ("asia",), priority="flash")
        assert [e["id"] for e in await everything.received.wait_events(3)] == [
            en["id"],
            ar["id"],
            fl["id"],
        ]
        assert [e["id"] for e in await arabic.wait_events(1)] == [ar["id"]]
        assert [e["id"] for e in await sports.received.wait_events(1)] == [ar["id"]]
        assert [e["id"] for e in await flash_only.wait_events(1)] == [fl["id"]]
        mark = await settle(
            client,
            node,
            arabic,
            sports.received,
            flash_only,
            regions=("asia",),
            language="ar",
            category="sports",
            priority="flash",
        )
        assert arabic.ids == [ar["id"], mark]
        assert sports.received.ids == [ar["id"], mark]
        assert flash_only.ids == [fl["id"], mark]


async def test_multi_region_alert_reaches_a_multi_region_subscriber_once(
    node: ServiceProcess,
) -> None:
    async with (
        httpx.AsyncClient() as client,
        sse_subscriber(node, region="mena,palestine") as sse,
        ws_subscriber(node, region=["mena", "palestine"]) as ws,
    ):
        sent = await publish(client, node, f"{_tag()} both", ("mena", "palestine"))
        mark = await settle(client, node, sse, ws.received, regions=("palestine",))
        assert sse.ids == [sent["id"], mark]
        assert ws.received.ids == [sent["id"], mark]


async def test_fan_out_to_many_subscribers_exactly_once(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        subs: list[AbstractAsyncContextManager[Received | WsClient]] = [
            sse_subscriber(node, region="africa") for _ in range(20)
        ]
        subs += [ws_subscriber(node, region="africa") for _ in range(20)]
        async with asyncio.TaskGroup() as group:
            entered = [group.create_task(s.__aenter__()) for s in subs]
        receivers = [task.result() for task in entered]
        try:
            sent = [await publish(client, node, f"{_tag()} {i}", ("africa",)) for i in range(5)]
            for r in receivers:
                received = r.received if isinstance(r, WsClient) else r
                await received.wait_events(5)
                assert received.ids == [e["id"] for e in sent]
        finally:
            for s in subs:
                await s.__aexit__(None, None, None)


async def test_correction_and_retraction_reach_the_alert_subscribers(node: ServiceProcess) -> None:
    headers = {"Authorization": f"Bearer {node.token}"}
    async with httpx.AsyncClient() as client, sse_subscriber(node, region="us-canada") as sub:
        alert = await publish(client, node, f"{_tag()} first", ("us-canada",), language="es")
        fixed = await client.post(
            f"{node.url}/v1/alerts/{alert['id']}/corrections",
            json={"headline": "fixed"},
            headers=headers,
        )
        assert fixed.status_code == 201, fixed.text
        gone = await client.request(
            "DELETE",
            f"{node.url}/v1/alerts/{alert['id']}",
            json={"reason": "wrong"},
            headers=headers,
        )
        assert gone.status_code == 200, gone.text
        events = await sub.wait_events(3)
        assert [e["type"] for e in events] == ["alert", "correction", "retraction"]
        assert events[1]["alert_id"] == events[2]["alert_id"] == alert["id"]
        assert events[1]["headline"] == "fixed"
        assert events[2]["reason"] == "wrong"
        assert events[1]["language"] == "es"
        assert events[2]["regions"] == ["us-canada"]


async def test_sse_response_headers(node: ServiceProcess) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "GET", f"{node.url}/v1/events", headers={"Origin": "https://news.example"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["access-control-allow-origin"] == "https://news.example"
        first = await anext(response.aiter_text())
        assert first.startswith("retry: ")


async def test_sse_heartbeat_is_an_event_page_javascript_can_see(node: ServiceProcess) -> None:
    async with (
        httpx.AsyncClient() as client,
        client.stream("GET", f"{node.url}/v1/events") as response,
    ):
        seen = ""
        async with asyncio.timeout(5):
            async for chunk in response.aiter_text():
                seen += chunk
                if "event: heartbeat\n" in seen and seen.endswith("\n\n"):
                    break
        assert 'event: heartbeat\ndata: {"every":1.0}\n\n' in seen


async def test_websocket_heartbeat_is_a_ping_and_a_json_frame(node: ServiceProcess) -> None:
    async with ws_subscriber(node, region="europe") as ws:
        beat = await ws.received.wait_heartbeat()
        assert beat == {"every": 1.0}


async def test_websocket_subscribe_op_changes_filters(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client, ws_subscriber(node, region="europe") as ws:
        tag = _tag()
        await ws.send({"op": "subscribe", "region": ["asia-pacific"], "language": "en"})
        await ws.received.wait_control("ready", count=2)
        await publish(client, node, f"{tag} eu", ("europe",))
        ap = await publish(client, node, f"{tag} ap", ("asia-pacific",))
        mark = await settle(client, node, ws.received, regions=("asia-pacific",))
        assert ws.received.ids == [ap["id"], mark]


async def test_websocket_bad_op_gets_an_error_frame_and_keeps_filters(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client, ws_subscriber(node, region="europe") as ws:
        await ws.send({"op": "subscribe", "region": ["atlantis"]})
        error = await ws.received.wait_control("error")
        assert error["status"] == 400
        assert "atlantis" in error["detail"]
        sent = await publish(client, node, f"{_tag()} still europe", ("europe",))
        await ws.received.wait_events(1)
        assert ws.received.ids == [sent["id"]]


async def test_websocket_frames_that_are_not_ops_get_problems(node: ServiceProcess) -> None:
    async with ws_subscriber(node) as ws:
        for frame in (
            "not json",
            b"\x00\x01",
            '{"op": "unsubscribe"}',
            '{"op": "subscribe", "priority": "urgent"}',
        ):
            await ws.connection.send(frame)
        errors = [await ws.received.wait_control("error", count=n) for n in range(1, 5)]
        assert [e["status"] for e in errors] == [400] * 4
        for error, detail in zip(errors, ("JSON", "binary", "subscribe", "urgent"), strict=True):
            assert detail in error["detail"]
