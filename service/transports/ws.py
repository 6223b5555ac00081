"""WebSocket: the frame encoding, and subscribers whose wire websockets' Sans-I/O protocol parses."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from websockets.datastructures import Headers
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from service.events import Event, EventKey, format_id
from service.filters import Filter
from service.problems import Problem
from service.transports.subscriber import Roster, SubscriberProtocol

_NO_POSITION: EventKey = (0, 0)
# A client silent for this many heartbeats (no pong, no frame) is gone.
_SILENT_BEATS = 3
# Client frames are small ops; anything larger is a protocol error.
_MAX_CLIENT_FRAME = 16 * 1024


def ws_frame(text: bytes) -> bytes:
    """An unmasked server text frame: the same bytes serve every WebSocket subscriber."""
    return Frame(Opcode.TEXT, text).serialize(mask=False)


def ws_control(event: str, event_id: str | None, data: dict[str, Any]) -> bytes:
    """A non-alert frame (`ready`, `reset`, `error`), in the same shape as events."""
    return ws_frame(orjson.dumps({"event": event, "id": event_id, "data": data}))


class WsCodec:
    """One text frame `{"event", "id", "data"}`; unmasked, so one frame serves every socket."""

    name = "ws"
    slot = 1

    def encode(self, event: Event) -> bytes:
        text = b'{"event":"%s","id":"%s","data":%s}' % (
            event.type.encode(),
            event.id.encode(),
            event.data,
        )
        return ws_frame(text)


WS = WsCodec()

# Pre-encoded server frames, shared by every subscriber.
_PING = Frame(Opcode.PING, b"").serialize(mask=False)
_RESET = ws_control("reset", None, {})
_RESTART = Frame(
    Opcode.CLOSE, Close(CloseCode.SERVICE_RESTART, "service restart").serialize()
).serialize(mask=False)


def ws_heartbeat(every_s: float) -> bytes:
    """A protocol ping (for the node: is the peer there?) and a JSON heartbeat frame (for page
    JavaScript, which never sees pings: is the node there?), in one write, shared by all."""
    return _PING + ws_control("heartbeat", None, {"every": every_s})


class Resubscriber(Protocol):
    """Who answers a client's `subscribe` op; raises Problem to refuse it."""

    def resubscribe(self, sub: WsSubscriber, op: Mapping[str, Any]) -> None: ...


def handshake(target: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[ServerProtocol, Response]:
    """Validate the upgrade and build the 101 (or error) response, with no extensions."""
    sansio = ServerProtocol(max_size=_MAX_CLIENT_FRAME)
    fields = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers])
    response = sansio.accept(Request(target.decode("latin-1"), fields))
    sansio.send_response(response)
    if response.status_code == 101:
        # The protocol was built expecting to parse the request itself, and its parser would
        # keep that request (every header) alive for the life of the connection. httptools
        # has parsed it already: a fresh parser in the OPEN state reads frames only.
        sansio.parser = sansio.parse()
        next(sansio.parser)
    return sansio, response


class WsSubscriber(SubscriberProtocol):
    """One WebSocket: reads pings, pongs, closes and `subscribe` ops; events are written by the hub."""

    __slots__ = ("_fragments", "_heartbeat", "heartbeat_s", "last_seen", "ops", "sansio")

    codec = WS

    def __init__(
        self,
        roster: Roster,
        flt: Filter,
        transport: asyncio.Transport,
        connections: set[Any],
        *,
        sansio: ServerProtocol,
        ops: Resubscriber,
        heartbeat_s: float,
        heartbeat: bytes,
    ) -> None:
        super().__init__(roster, flt, transport, connections)
        self.sansio = sansio
        self.ops = ops
        self.heartbeat_s = heartbeat_s
        self._heartbeat = heartbeat
        self.last_seen = asyncio.get_running_loop().time()
        # The parts of a fragmented message so far, with its first frame's opcode; the
        # Sans-I/O protocol yields frames, not messages, and bounds their total size.
        self._fragments: tuple[Opcode, list[bytes]] | None = None

    def data_received(self, data: bytes) -> None:
        self.last_seen = asyncio.get_running_loop().time()
        self.sansio.receive_data(data)
        for frame in self.sansio.events_received():
            if self.transport.is_closing():
                # Dropped over the write bound, or closed: the rest is not answered.
                return
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY) and not frame.fin:
                self._fragments = (frame.opcode, [bytes(frame.data)])
            elif frame.opcode is Opcode.CONT and self._fragments is not None:
                self._fragments[1].append(bytes(frame.data))
                if frame.fin:
                    opcode, parts = self._fragments
                    self._fragments = None
                    self._on_message(opcode, b"".join(parts))
            elif frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._on_message(frame.opcode, bytes(frame.data))
        self._flush()

    def _on_message(self, opcode: Opcode, data: bytes) -> None:
        if opcode is Opcode.BINARY:
            self._send_problem(Problem(400, "binary frames are not understood; send JSON text"))
            return
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            # RFC 6455 8.1: a text message that is not UTF-8 fails the connection with 1007.
            self.sansio.fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at byte {exc.start}")
            return
        self._on_op(text)

    def _flush(self) -> None:
        """Write what the protocol produced itself (pongs, close replies); close when it is done."""
        for chunk in self.sansio.data_to_send():
            if chunk:
                self.send(chunk)
            else:
                self.transport.close()
        if self.sansio.close_expected():
            self.transport.close()

    def _on_op(self, raw: str) -> None:
        try:
            try:
                op = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise Problem(400, "frames must be JSON objects") from None
            if not isinstance(op, dict) or op.get("op") != "subscribe":
                raise Problem(400, 'expected {"op": "subscribe", ...}')
            # A replay is written by the gateway: the bound is applied before it starts.
            if self.within_bound():
                self.ops.resubscribe(self, op)
        except Problem as problem:
            self._send_problem(problem)

    def _send_problem(self, problem: Problem) -> None:
        """A bad op is answered in-band; the connection and its filters stay as they were."""
        self.send(ws_control("error", None, problem.as_dict()))

    def live_marker(self, position: EventKey) -> bytes:
        event_id = format_id(position) if position != _NO_POSITION else None
        return ws_control("ready", event_id, {"filters": self.filter.describe()})

    def send_reset(self) -> None:
        self.send(_RESET)

    def heartbeat(self, now: float) -> None:
        silent = _SILENT_BEATS * self.heartbeat_s
        if self.stalled_for(now) > silent:
            # Reading stopped when its buffer filled: the client reads none of its replies.
            self.drop(f"it read none of what it was sent for {silent:g}s")
            return
        if now - self.last_seen > silent:
            self.drop(f"no answer to pings for {silent:g}s")
            return
        self.send(self._heartbeat)

    def shutdown(self) -> None:
        self.transport.write(_RESTART)
        self.transport.close()
