"""WebSocket: the handshake, the frame encoding, and subscribers reading the client's frames.

A subscriber keeps no parser while it is idle: the frames a client sends (pongs, `subscribe`
ops, a close) are rare and small, so each read parses them with websockets' frame parser and
keeps at most the bytes of an incomplete frame. websockets' connection-level Sans-I/O protocol
would be the larger part of every idle subscriber's memory.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import time
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.streams import StreamReader
from websockets.utils import GUID

from service.events import Event, EventKey, format_id
from service.filters import Filter
from service.problems import Problem
from service.transports.http import http_head
from service.transports.subscriber import Roster, SubscriberProtocol

_NO_POSITION: EventKey = (0, 0)
# A client silent for this many heartbeats (no pong, no frame) is gone.
_SILENT_BEATS = 3
# Client frames are small ops; anything larger is a protocol error.
_MAX_CLIENT_FRAME = 16 * 1024


def ws_frame(text: bytes) -> bytes:
    """An unmasked, final server text frame (RFC 6455 5.2): the same bytes serve every
    WebSocket subscriber. Written here because a connect writes one (`ready`), and
    websockets' general serializer costs more than the rest of the frame's making."""
    size = len(text)
    if size < 126:
        return bytes((0x81, size)) + text
    if size < 1 << 16:
        return b"\x81\x7e" + size.to_bytes(2, "big") + text
    return b"\x81\x7f" + size.to_bytes(8, "big") + text


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


@functools.lru_cache(maxsize=1024)
def _ready(flt: Filter, position: EventKey) -> bytes:
    """The `ready` frame, made once per filter and position: a reconnect storm goes live at one
    position with a handful of filters."""
    event_id = format_id(position) if position != _NO_POSITION else None
    return ws_control("ready", event_id, {"filters": flt.describe()})


def ws_heartbeat(every_s: float) -> bytes:
    """A protocol ping (for the node: is the peer there?) and a JSON heartbeat frame (for page
    JavaScript, which never sees pings: is the node there?), in one write, shared by all."""
    return _PING + ws_control("heartbeat", None, {"every": every_s})


class Resubscriber(Protocol):
    """Who answers a client's `subscribe` op; raises Problem to refuse it."""

    def resubscribe(self, sub: WsSubscriber, op: Mapping[str, Any]) -> None: ...


# The 101 is the same for every subscriber up to its accept key: made once, less its end.
_GUID = GUID.encode()
_SWITCHING = http_head(
    101, [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", "")]
)[: -len(b"\r\n\r\n")]


def handshake(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The 101 response to a WebSocket upgrade request (RFC 6455 4.2.1), with no extensions and
    no subprotocol; raises Problem when the request is not a WebSocket handshake."""
    upgrade = connection = version = b""
    keys: list[bytes] = []
    for name, value in headers:
        if name == b"upgrade":
            upgrade += b"," + value
        elif name == b"connection":
            connection += b"," + value
        elif name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            version = value.strip()
    if not (_lists(upgrade, b"websocket") and _lists(connection, b"upgrade")):
        raise Problem(
            426,
            "WebSocket handshake failed: expected Upgrade: websocket and Connection: Upgrade",
            headers={"upgrade": "websocket", "connection": "Upgrade"},
        )
    if version != b"13":
        raise Problem(
            426,
            "WebSocket handshake failed: only Sec-WebSocket-Version 13 is spoken",
            headers={"sec-websocket-version": "13"},
        )
    if len(keys) != 1 or not _valid_key(keys[0]):
        raise Problem(
            400, "WebSocket handshake failed: expected one Sec-WebSocket-Key of 16 base64 bytes"
        )
    # websockets' accept_key() on bytes, without its str round trip: a storm makes thousands.
    accept = binascii.b2a_base64(hashlib.sha1(keys[0] + _GUID).digest(), newline=False)
    return _SWITCHING + accept + b"\r\n\r\n"


def _lists(field: bytes, token: bytes) -> bool:
    """Whether a comma-separated header field (its lines joined) holds `token`, in any case."""
    return token in field.lower().replace(b" ", b"").replace(b"\t", b"").split(b",")


def _valid_key(key: bytes) -> bool:
    try:
        return len(binascii.a2b_base64(key, strict_mode=True)) == 16
    except binascii.Error:
        return False


class WsSubscriber(SubscriberProtocol):
    """One WebSocket: reads pings, pongs, closes and `subscribe` ops; events are written by the hub."""

    __slots__ = ("_fragments", "_heartbeat", "_partial", "heartbeat_s", "last_seen", "ops")

    codec = WS

    def __init__(
        self,
        roster: Roster,
        flt: Filter,
        transport: asyncio.Transport,
        connections: set[Any],
        *,
        ops: Resubscriber,
        heartbeat_s: float,
        heartbeat: bytes,
    ) -> None:
        super().__init__(roster, flt, transport, connections)
        self.ops = ops
        self.heartbeat_s = heartbeat_s
        self._heartbeat = heartbeat
        self.last_seen = time.monotonic()
        # The bytes of a frame not yet complete, and the parts of a fragmented message so far
        # with its first frame's opcode; both None between messages.
        self._partial: bytes | None = None
        self._fragments: tuple[Opcode, list[bytes]] | None = None

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        reader = StreamReader()
        reader.feed_data(self._partial + data if self._partial else data)
        self._partial = None
        while reader.buffer and not self.transport.is_closing():
            # Dropped over the write bound, or closed: the rest is not answered.
            unread = bytes(reader.buffer)
            parser = Frame.parse(reader.read_exact, mask=True, max_size=_MAX_CLIENT_FRAME)
            try:
                next(parser)
            except StopIteration as parsed:
                self._on_frame(parsed.value)
                continue
            except PayloadTooBig as exc:
                self._fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
                return
            except ProtocolError as exc:
                self._fail(CloseCode.PROTOCOL_ERROR, str(exc))
                return
            # The parser waits for more: the frame is read again, whole, when the rest arrives.
            self._partial = unread
            return

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PING:
            self.send(Frame(Opcode.PONG, frame.data).serialize(mask=False))
        elif opcode is Opcode.CLOSE:
            self._on_close(bytes(frame.data))
        elif opcode is Opcode.PONG:
            return
        elif opcode is Opcode.CONT:
            if self._fragments is None:
                self._fail(CloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
                return
            parts = self._fragments[1]
            parts.append(bytes(frame.data))
            if sum(map(len, parts)) > _MAX_CLIENT_FRAME:
                self._fail(CloseCode.MESSAGE_TOO_BIG, "message too big")
            elif frame.fin:
                opcode, self._fragments = self._fragments[0], None
                self._on_message(opcode, b"".join(parts))
        elif self._fragments is not None:
            self._fail(CloseCode.PROTOCOL_ERROR, "expected a continuation frame")
        elif not frame.fin:
            self._fragments = (opcode, [bytes(frame.data)])
        else:
            self._on_message(opcode, bytes(frame.data))

    def _on_close(self, data: bytes) -> None:
        """The client's closing handshake: echo its code (RFC 6455 5.5.1), then close."""
        try:
            if data:
                Close.parse(data)
        except (ProtocolError, UnicodeDecodeError) as exc:
            self._fail(CloseCode.PROTOCOL_ERROR, f"invalid close frame: {exc}")
            return
        self.send(Frame(Opcode.CLOSE, data[:2]).serialize(mask=False))
        self.transport.close()

    def _fail(self, code: CloseCode, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): a close frame saying why, then the close."""
        self.send(Frame(Opcode.CLOSE, Close(code, reason[:120]).serialize()).serialize(mask=False))
        self.transport.close()

    def _on_message(self, opcode: Opcode, data: bytes) -> None:
        if opcode is Opcode.BINARY:
            self._send_problem(Problem(400, "binary frames are not understood; send JSON text"))
            return
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            # RFC 6455 8.1: a text message that is not UTF-8 fails the connection with 1007.
            self._fail(CloseCode.INVALID_DATA, f"invalid UTF-8 at byte {exc.start}")
            return
        self._on_op(text)

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
        return _ready(self.filter, position)

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
