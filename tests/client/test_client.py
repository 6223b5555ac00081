"""BreakingClient against real nodes: filters, editor calls, transports, resume across restarts."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from breaking_client import ApiError, BreakingClient, Event, Reset, ServiceUnavailableError

from tests.client.conftest import CLIENT_NODE_ENV
from tests.client.helpers import subscribed, websocket_blocking_proxy
from tests.support.processes import RedisProcess, ServiceProcess, free_port, service_process

TransportName = Literal["websocket", "sse"]
TRANSPORTS: list[TransportName] = ["websocket", "sse"]


def _fast(
    url: str, token: str | None = None, transport: Literal["auto", "websocket", "sse"] = "auto"
) -> BreakingClient:
    """Quick reconnects keep the restart tests short; the jitter stays real."""
    return BreakingClient(url, token, transport=transport, backoff_base=0.05, backoff_max=0.5)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_events_arrive_filtered(
    client_node: ServiceProcess, transport: TransportName
) -> None:
    async with BreakingClient(client_node.url, client_node.token, transport=transport) as client:
        start = await client.publish("start", regions=["mena"], language="en")
        events = client.events(
            regions=["mena", "palestine"],
            language="en",
            priority="breaking",
            last_event_id=start.id,
        )
        async with subscribed(events) as subscriber:
            await client.publish("first", regions=["mena"], language="en")
            assert await subscriber.headlines(1) == ["first"]
            # Live now: each of these misses one filter, then one matches them all.
            await client.publish("other region", regions=["europe"], language="en")
            await client.publish("other language", regions=["mena"], language="ar")
            await client.publish(
                "too minor", regions=["palestine"], language="en", priority="update"
            )
            flash = await client.publish(
                "second", regions=["europe", "palestine"], language="en", priority="flash"
            )
            [event] = await subscriber.take(1)
    assert event == flash
    assert isinstance(event, Event)
    assert event.regions == ["europe", "palestine"]


async def test_category_filter(client_node: ServiceProcess) -> None:
    async with BreakingClient(client_node.url, client_node.token) as client:
        start = await client.publish("start", regions=["asia"], language="es")
        events = client.events(category="sports", last_event_id=start.id)
        async with subscribed(events) as subscriber:
            await client.publish("no category", regions=["asia"], language="es")
            await client.publish("economy", regions=["asia"], language="es", category="economy")
            await client.publish("sports", regions=["africa"], language="ar", category="sports")
            assert await subscriber.headlines(1) == ["sports"]


async def test_corrections_and_retractions_reach_the_alerts_subscribers(
    client_node: ServiceProcess,
) -> None:
    async with BreakingClient(client_node.url, client_node.token) as client:
        alert = await client.publish(
            "Quake hits coast",
            regions=["asia-pacific"],
            language="en",
            source="Desk",
            url="https://example.org/quake",
        )
        async with subscribed(
            client.events(regions=["asia-pacific"], last_event_id=alert.id)
        ) as sub:
            correction = await client.correct(alert.id, "Strong quake hits coast")
            retraction = await client.retract(alert.id, "wrong location")
            assert await sub.take(2) == [correction, retraction]
    assert (correction.type, correction.alert_id, correction.headline) == (
        "correction",
        alert.id,
        "Strong quake hits coast",
    )
    assert (retraction.type, retraction.alert_id, retraction.reason) == (
        "retraction",
        alert.id,
        "wrong location",
    )
    assert correction.regions == retraction.regions == ["asia-pacific"]


async def test_live_alerts_apply_corrections_and_drop_retractions(
    client_node: ServiceProcess,
) -> None:
    async with BreakingClient(client_node.url, client_node.token) as client:
        kept = await client.publish("kept", regions=["us-canada"], language="en")
        await client.correct(kept.id, "kept, corrected")
        gone = await client.publish("gone", regions=["us-canada"], language="en")
        await client.retract(gone.id)
        await client.publish("minor", regions=["us-canada"], language="en", priority="update")
        newest = await client.publish("newest", regions=["us-canada"], language="en")
        alerts = await client.live_alerts(
            regions=["us-canada"], language="en", priority="breaking", limit=2
        )
    assert [(a.id, a.headline) for a in alerts] == [
        (newest.id, "newest"),
        (kept.id, "kept, corrected"),
    ]


async def test_api_errors_carry_the_problem(client_node: ServiceProcess) -> None:
    async with BreakingClient(client_node.url, client_node.token) as client:
        with pytest.raises(ApiError) as invalid:
            await client.publish("", regions=["atlantis"], language="en")
        with pytest.raises(ApiError) as unknown:
            await client.correct("1-0", "no such alert")
    assert invalid.value.status == 422
    assert {e.field for e in invalid.value.problem.errors or []} >= {"headline", "regions"}
    assert unknown.value.status == 404
    async with BreakingClient(client_node.url, "not-a-token") as stranger:
        with pytest.raises(ApiError) as unauthorised:
            await stranger.publish("hello", regions=["mena"], language="en")
    assert unauthorised.value.status == 401
    assert "not-a-token" not in str(unauthorised.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_rejected_filters_raise_instead_of_retrying(
    client_memory_node: ServiceProcess, transport: TransportName
) -> None:
    async with BreakingClient(client_memory_node.url, transport=transport) as client:
        with pytest.raises(ApiError) as rejected:
            async with asyncio.timeout(10):
                await anext(client.events(regions=["atlantis"]))
    assert rejected.value.status == 400
    assert "atlantis" in rejected.value.problem.detail


async def test_unreachable_service() -> None:
    async with BreakingClient(f"http://127.0.0.1:{free_port()}", "token") as client:
        with pytest.raises(ServiceUnavailableError):
            await client.publish("hello", regions=["mena"], language="en")


async def test_falls_back_to_sse_when_websocket_is_blocked(
    client_memory_node: ServiceProcess,
) -> None:
    async with (
        websocket_blocking_proxy(client_memory_node.port) as proxy,
        _fast(proxy.url, client_memory_node.token, "auto") as client,
    ):
        start = await client.publish("start", regions=["europe"], language="en")
        async with subscribed(client.events(regions=["europe"], last_event_id=start.id)) as sub:
            await client.publish("via sse", regions=["europe"], language="en")
            assert await sub.headlines(1) == ["via sse"]
    assert proxy.blocked == 1


async def test_websocket_only_client_reports_the_block(client_memory_node: ServiceProcess) -> None:
    async with (
        websocket_blocking_proxy(client_memory_node.port) as proxy,
        BreakingClient(proxy.url, transport="websocket") as client,
    ):
        with pytest.raises(ApiError) as blocked:
            async with asyncio.timeout(10):
                await anext(client.events())
    assert blocked.value.status == 403


@pytest.mark.parametrize(
    ("stop", "transport"), [("kill", "websocket"), ("terminate", "sse"), ("terminate", "websocket")]
)
async def test_resumes_across_a_node_restart_exactly_once(
    redis: RedisProcess, stop: str, transport: TransportName
) -> None:
    """Node A dies; B takes the alerts meanwhile; A's subscriber gets each exactly once."""
    env = CLIENT_NODE_ENV | {"BREAKING_KEY_PREFIX": f"restart-{stop}-{transport}"}
    with service_process(redis.url, env=env) as a, service_process(redis.url, env=env) as b:
        async with (
            _fast(a.url, transport=transport) as listener,
            BreakingClient(b.url, b.token) as editor,
        ):
            start = await editor.publish("start", regions=["mena"], language="en")
            async with subscribed(listener.events(regions=["mena"], last_event_id=start.id)) as sub:
                await editor.publish("before", regions=["mena"], language="en")
                assert await sub.headlines(1) == ["before"]
                await asyncio.to_thread(a.kill if stop == "kill" else a.terminate)
                await editor.publish("while down 1", regions=["mena"], language="en")
                await editor.publish("elsewhere", regions=["europe"], language="en")
                await editor.publish("while down 2", regions=["mena"], language="en")
                await asyncio.sleep(0.3)  # the listener is retrying against a closed port
                await asyncio.to_thread(a.start)
                await editor.publish("after", regions=["mena"], language="en")
                assert await sub.headlines(3) == ["while down 1", "while down 2", "after"]
                await editor.publish("live", regions=["mena"], language="en")
                assert await sub.headlines(1) == ["live"]


async def test_reset_when_a_memory_node_restarts_without_its_history() -> None:
    """The resume id predates the restarted node's history: Reset, then events flow live again."""
    with service_process(env=CLIENT_NODE_ENV) as node:
        async with _fast(node.url, node.token) as client:
            start = await client.publish("start", regions=["africa"], language="en")
            async with subscribed(client.events(regions=["africa"], last_event_id=start.id)) as sub:
                await client.publish("before", regions=["africa"], language="en")
                assert await sub.headlines(1) == ["before"]
                await asyncio.to_thread(node.kill)
                await asyncio.to_thread(node.start)
                [reset] = await sub.take(1)
                assert isinstance(reset, Reset)
                await client.publish("fresh", regions=["africa"], language="en")
                assert await sub.headlines(1) == ["fresh"]
