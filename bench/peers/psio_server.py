"""python-socketio on aiohttp with AsyncRedisManager: rooms per region, emits go through Redis."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web

if TYPE_CHECKING:
    from bench.peers.common import alert_event
else:
    # A peer runs as a script in its own venv, with common.py beside it, not in the package.
    from common import alert_event


def main() -> None:
    manager = socketio.AsyncRedisManager(os.environ["REDIS_URL"])
    sio = socketio.AsyncServer(
        client_manager=manager, async_mode="aiohttp", transports=["websocket"]
    )
    app = web.Application()
    sio.attach(app)

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        region = parse_qs(environ.get("QUERY_STRING", "")).get("region", ["*"])[0]
        await sio.enter_room(sid, region)

    # Registered by call, not by decorator: socketio is untyped here (it is not in the dev venv).
    sio.on("connect", connect)

    async def publish(request: web.Request) -> web.Response:
        event = alert_event(await request.json())
        for region in event["regions"]:
            await sio.emit("alert", event, room=region)
        return web.json_response(event, status=201)

    app.router.add_post("/v1/alerts", publish)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), backlog=4096, print=None)


if __name__ == "__main__":
    main()
