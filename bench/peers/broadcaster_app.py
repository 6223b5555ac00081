"""broadcaster + sse-starlette: the typical Starlette approach, a broker subscription per stream."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import uvicorn
from broadcaster import Broadcast
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from bench.peers.common import alert_event
else:
    # A peer runs as a script in its own venv, with common.py beside it, not in the package.
    from common import alert_event

broadcast = Broadcast(os.environ["REDIS_URL"])


async def events(request: Request) -> EventSourceResponse:
    region = request.query_params.get("region", "*")

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with broadcast.subscribe(channel=region) as subscriber:
            yield {"comment": "ready"}  # subscribed: the bench may publish now
            async for message in subscriber:
                event = json.loads(message.message)
                yield {"event": "alert", "id": event["id"], "data": message.message}

    return EventSourceResponse(stream())


async def publish(request: Request) -> JSONResponse:
    event = alert_event(await request.json())
    for region in event["regions"]:
        await broadcast.publish(channel=region, message=json.dumps(event))
    return JSONResponse(event, status_code=201)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await broadcast.connect()
    yield
    await broadcast.disconnect()


app = Starlette(
    routes=[Route("/v1/events", events), Route("/v1/alerts", publish, methods=["POST"])],
    lifespan=lifespan,
)

if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", backlog=4096
    )
