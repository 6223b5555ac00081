"""A subscriber that stops reading is disconnected; the others keep receiving everything."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from tests.support.clients import sse_subscriber, ws_subscriber
from tests.support.processes import service_process


# A bound under the transport's default high-water mark (64 KiB) and one above it (the
# default): the fan-out looks at a buffer's size only once its transport paused writing.
@pytest.mark.parametrize("bound", [8192, 256 * 1024])
async def test_a_stalled_subscriber_is_dropped_and_others_keep_up(bound: int) -> None:
    env = {"BREAKING_SUBSCRIBER_BUFFER_BYTES": str(bound)}
    with service_process(env=env) as node:
        stalled = socket.socket()
        # A tiny receive window so the server's socket buffer fills after a few events.
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", node.port))
        stalled.sendall(b"GET /v1/events?region=mena HTTP/1.1\r\nHost: test\r\n\r\n")
        headers = {"Authorization": f"Bearer {node.token}"}
        # About 3 KB an event: the kernel queues up to 4 MB (tcp_wmem) before the node sees it.
        url = "https://example.org/" + "a" * 2000
        body = {
            "headline": "ب" * 280,
            "regions": ["mena"],
            "language": "ar",
            "source": "s" * 200,
            "url": url,
        }
        sent = 0
        async with (
            httpx.AsyncClient() as client,
            sse_subscriber(node, region="mena") as sse,
            ws_subscriber(node, region="mena") as ws,
        ):
            for _ in range(100):
                batch = await asyncio.gather(
                    *(
                        client.post(f"{node.url}/v1/alerts", json=body, headers=headers)
                        for _ in range(40)
                    )
                )
                assert all(r.status_code == 201 for r in batch)
                sent += len(batch)
                if "unable to receive updates fast enough" in node.output():
                    break
            assert "unable to receive updates fast enough" in node.output()
            await sse.wait_events(sent, within=15)
            await ws.received.wait_events(sent, within=15)
            assert len(set(sse.ids)) == len(set(ws.received.ids)) == sent
            metrics = (await client.get(f"{node.url}/metrics")).text
            assert "breaking_slow_disconnects_total 1.0" in metrics
        stalled.close()
