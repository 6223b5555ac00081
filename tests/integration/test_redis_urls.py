"""Every URL form redis-py accepts works for publishing, history and the live subscription."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.support.clients import publish, sse_subscriber, ws_subscriber
from tests.support.processes import RedisMode, redis_process, service_env, service_process


@pytest.mark.parametrize("mode", ["tls", "unix"])
async def test_publish_deliver_resume_and_reconnect(mode: RedisMode) -> None:
    """rediss:// against a certificate the test made (verified against its CA), and unix://."""
    with (
        redis_process(mode=mode) as redis,
        service_process(redis.url, env={"BREAKING_REPLAY_CACHE_SIZE": "0"}) as node,
    ):
        assert redis.url.startswith("rediss://" if mode == "tls" else "unix://")
        async with (
            httpx.AsyncClient() as client,
            sse_subscriber(node, region="europe") as sse,
            ws_subscriber(node, region="europe") as ws,
        ):
            first = await publish(client, node, f"over {mode}", ("europe",))
            # Redis drops the subscription; the node reconnects the same way and backfills.
            assert redis.command("CLIENT", "KILL", "TYPE", "pubsub").startswith(b":1")
            second = await publish(client, node, f"after a reconnect over {mode}", ("europe",))
            await sse.wait_events(2, within=10)
            await ws.received.wait_events(2, within=10)
            assert sse.ids == ws.received.ids == [first["id"], second["id"]]
            async with sse_subscriber(node, last_event_id=first["id"], region="europe") as again:
                await again.wait_events(1)
                assert again.ids == [second["id"]]
            listing = await client.get(f"{node.url}/v1/alerts", params={"region": "europe"})
            assert [a["id"] for a in listing.json()["alerts"]] == [second["id"], first["id"]]
        log = node.output()
        assert (
            "subscribed to Redis at " + (str(redis.socket_path) if mode == "unix" else "127.0.0.1")
            in log
        )
        assert "Traceback" not in log


def test_a_url_option_redis_py_rejects_stops_the_node_at_start() -> None:
    """Not a node that starts and stays silently unready."""
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--port", "0"],
        env=service_env("rediss://127.0.0.1:1/0?ssl_cert_reqs=sometimes"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "BREAKING_REDIS_URL is not usable" in result.stderr
    assert "sometimes" in result.stderr
