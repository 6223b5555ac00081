"""SIGTERM: stop accepting, tell SSE clients to retry soon, close WebSockets with 1012."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
import websockets

from tests.support.processes import service_process


async def test_sigterm_sends_retry_and_1012() -> None:
    with service_process() as node:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=10)) as client,
            client.stream("GET", f"{node.url}/v1/events") as sse,
            websockets.connect(f"{node.ws_url}/v1/ws") as ws,
        ):
            await ws.recv()
            stream = sse.aiter_text()
            await anext(stream)
            code = await asyncio.to_thread(node.terminate)
            tail = "".join([chunk async for chunk in stream])
            assert "retry: 500\n\n" in tail
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
        # uvicorn re-raises the caught SIGTERM once its graceful shutdown is complete.
        assert code == -signal.SIGTERM
        assert "Finished server process" in node.output()
