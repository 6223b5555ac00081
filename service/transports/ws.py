"""WebSocket subscribers: websockets' Sans-I/O ServerProtocol parses the wire, the hub writes frames."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
from websockets.datastructures import Headers
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from service.events import EventKey, format_id, ws_control
from service.hub import NO_POSITION, WS
from service.models import Filter
from service.problems import Problem
from service.transports.subscriber import SubscriberProtocol

if TYPE_CHECKING:
    from service.subscribe import Gateway

# Pre-encoded server frames: unmasked, so the same bytes serve every subscriber.
_PING = Frame(Opcode.PING, b"").serialize(mask=False)
_RESET = ws_control("reset", None, {})
_RESTART = Frame(
    Opcode.CLOSE, Close(CloseCode.SERVICE_RESTART, "service restart").serialize()
).serialize(mask=False)
# A client silent for this many heartbeats (no pong, no frame) is gone.
_SILENT_BEATS = 3
# Client frames are small ops; anything larger is a protocol error.
_MAX_CLIENT_FRAME = 16 * 1024


def handshake(target: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[ServerProtocol, Response]:
    """Validate the upgrade and build the 101 (or error) response, with no extensions."""
    protocol = ServerProtocol(max_size=_MAX_CLIENT_FRAME)
    fields = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers])
    response = protocol.accept(Request(target.decode("latin-1"), fields))
    protocol.send_response(response)
    if response.status_code == 101:
        # The protocol was built expecting to parse the request itself, and its parser would
        # keep that request (every header) alive for the life of the connection. httptools
        # has parsed it already: a fresh parser in the OPEN state reads frames only.
        protocol.parser = protocol.parse()
        next(protocol.parser)
    return protocol, response


class WsSubscriber(SubscriberProtocol):
    """One WebSocket: reads pings, pongs, closes and `subscribe` ops; events are written by the hub."""

    __slots__ = ("last_seen", "protocol")

    kind = WS

    def __init__(
        self,
        gateway: Gateway,
        flt: Filter,
        transport: asyncio.Transport,
        connections: set[Any],
        protocol: ServerProtocol,
    ) -> None:
        super().__init__(gateway, flt, transport, connections)
        self.protocol = protocol
        self.last_seen = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self.last_seen = asyncio.get_running_loop().time()
        self.protocol.receive_data(data)
        for frame in self.protocol.events_received():
            if not isinstance(frame, Frame):
                continue
            if frame.opcode is Opcode.TEXT:
                self._on_op(bytes(frame.data))
            elif frame.opcode is Opcode.BINARY:
                self._send_problem(Problem(400, "binary frames are not understood; send JSON text"))
        self._flush()

    def _flush(self) -> None:
        """Write what the protocol produced itself (pongs, close replies); close when it is done."""
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:
                self.transport.close()
        if self.protocol.close_expected():
            self.transport.close()

    def _on_op(self, raw: bytes) -> None:
        try:
            try:
                op = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise Problem(400, "frames must be JSON objects") from None
            if not isinstance(op, dict) or op.get("op") != "subscribe":
                raise Problem(400, 'expected {"op": "subscribe", ...}')
            self.gateway.resubscribe(self, op)
        except Problem as problem:
            self._send_problem(problem)

    def _send_problem(self, problem: Problem) -> None:
        """A bad op is answered in-band; the connection and its filters stay as they were."""
        self.transport.write(ws_control("error", None, problem.as_dict()))

    def live_marker(self, position: EventKey) -> bytes:
        event_id = format_id(position) if position != NO_POSITION else None
        return ws_control("ready", event_id, {"filters": self.filter.describe()})

    def send_reset(self) -> None:
        self.transport.write(_RESET)

    def heartbeat(self, now: float) -> None:
        interval = self.gateway.settings.heartbeat_seconds
        if now - self.last_seen > _SILENT_BEATS * interval:
            self.drop(f"no answer to pings for {_SILENT_BEATS * interval:g}s")
            return
        self.transport.write(_PING)

    def shutdown(self) -> None:
        self.transport.write(_RESTART)
        self.transport.close()
