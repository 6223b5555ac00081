"""The floor: a minimal raw-uvloop push server writing one pre-encoded frame per matching socket.

Same paths, wire formats and event object as breaking-push (SSE, WebSocket, POST /v1/alerts)
with nothing else: no validation, no auth, no heartbeats. What Python here can possibly do.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import time
from collections import defaultdict, deque
from typing import cast
from urllib.parse import parse_qs, urlsplit

import orjson
import uvloop

# RFC 6455 section 1.3; the load generator checks every accept key against it.
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"x-accel-buffering: no\r\n\r\nretry: 2000\n\n"
)
_HISTORY = 10_000
_TTL_MS = 6 * 3600 * 1000


def _iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the event format has it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def ws_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


Index = dict[frozenset[str] | None, set[asyncio.Transport]]
"""Subscribers by the regions they follow (None: every region), each filed under one key."""


class Hub:
    """Subscribers by regions and transport, plus a bounded history for resume."""

    def __init__(self) -> None:
        self.sse: Index = defaultdict(set)
        self.ws: Index = defaultdict(set)
        self.history: deque[tuple[tuple[int, int], frozenset[str], bytes, bytes]] = deque(
            maxlen=_HISTORY
        )
        self._last = (0, 0)

    def publish(self, alert: dict[str, object]) -> bytes:
        ms = time.time_ns() // 1_000_000
        self._last = (ms, self._last[1] + 1) if ms <= self._last[0] else (ms, 0)
        event_id = f"{self._last[0]}-{self._last[1]}"
        regions = frozenset(str(r) for r in alert.get("regions", []))  # type: ignore[attr-defined]
        event = orjson.dumps(
            {
                "id": event_id,
                "type": "alert",
                "alert_id": event_id,
                **alert,
                "priority": alert.get("priority", "breaking"),
                "published_at": _iso(ms),
                "expires_at": _iso(ms + _TTL_MS),
            }
        )
        sse = b"id: %s\nevent: alert\ndata: %s\n\n" % (event_id.encode(), event)
        ws = ws_frame(b'{"event":"alert","id":"%s","data":%s}' % (event_id.encode(), event))
        self.history.append((self._last, regions, sse, ws))
        # Each subscriber sits under one key, so walking the matching keys writes to each
        # matching subscriber once, with no copy of them: the least a multi-region alert costs.
        for frame, index in ((sse, self.sse), (ws, self.ws)):
            for key, transports in index.items():
                if key is None or not key.isdisjoint(regions):
                    for transport in transports:
                        transport.write(frame)
        return event

    def replay(
        self, transport: asyncio.Transport, key: frozenset[str] | None, after: str, ws: bool
    ) -> None:
        after_key = _id_key(after)
        for event_key, regions, sse_frame, ws_frame_ in self.history:
            if event_key > after_key and (key is None or not key.isdisjoint(regions)):
                transport.write(ws_frame_ if ws else sse_frame)


class FloorProtocol(asyncio.Protocol):
    """Parses one request head; a subscribe request turns the connection into a subscriber."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.index: Index | None = None
        self.key: frozenset[str] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.index is not None:
            return  # a subscriber's frames (pongs, close) need no answer from the floor
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            pairs = (line.split(": ", 1) for line in head[1:] if ": " in line)
            # Names are case-insensitive; values are not (the WebSocket key is base64).
            headers = {name.lower(): value for name, value in pairs}
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self._handle(method, target, headers, body)

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        url = urlsplit(target)
        query = parse_qs(url.query)
        regions = ",".join(query.get("region", [])).split(",")
        key = frozenset(r for r in regions if r) or None
        resume = headers.get("last-event-id") or query.get("last_event_id", [""])[0]
        if method == "POST" and url.path == "/v1/alerts":
            event = self.hub.publish(orjson.loads(body))
            self.transport.write(
                b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(event), event)
            )
        elif url.path == "/v1/events":
            self.transport.write(_SSE_HEAD)
            self._subscribe(self.hub.sse, key, resume, ws=False)
        elif url.path == "/v1/ws":
            accept = base64.b64encode(
                hashlib.sha1(headers["sec-websocket-key"].encode() + _WS_GUID).digest()
            )
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                b"connection: Upgrade\r\nsec-websocket-accept: %s\r\n\r\n" % accept
            )
            self._subscribe(self.hub.ws, key, resume, ws=True)
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")

    def _subscribe(self, index: Index, key: frozenset[str] | None, resume: str, ws: bool) -> None:
        assert self.transport is not None
        if resume:
            self.hub.replay(self.transport, key, resume, ws)
        self.index, self.key = index, key
        index[key].add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.index is not None and self.transport is not None:
            self.index[self.key].discard(self.transport)


async def serve(host: str, port: int) -> None:
    hub = Hub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FloorProtocol(hub), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
