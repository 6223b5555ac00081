"""Load generator: subscriber processes on raw uvloop protocols, parsed only after the run.

`python -m bench.loadgen` is one worker: it reads its config as one JSON line on stdin, opens
its subscribers, answers `drain` (wait until the wire is quiet) and `close` (hand back every
subscriber's deliveries) commands. `Workers` runs several of them from the orchestrator.
Each subscriber only timestamps and keeps the bytes it receives, so the generator stays cheap.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import uvloop

from bench.procs import die_with_parent, raise_fd_limit

# Every kind is an HTTP/1.1 upgrade or stream; the adapters differ only in framing and greeting.
SSE, WS, SIO = "sse", "ws", "sio"
_ZERO_MASK = b"\0\0\0\0"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_SIO_PING = b"\x81\x012"
_LINGER_RESET = struct.pack("ii", 1, 0)
_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # linux/in.h


@dataclass(frozen=True)
class SubSpec:
    """One subscriber: where it connects, how it speaks, and what tells it is subscribed."""

    port: int
    kind: str
    path: str
    ready: str
    headers: dict[str, str] = field(default_factory=dict)
    # A loopback source address (127.0.0.2, ...) with ephemeral ports of its own; "" leaves
    # it to the kernel (127.0.0.1), which connects faster.
    source: str = ""


@dataclass
class SubResult:
    """What one subscriber saw: (alert sequence number, receive time in ns) per delivery."""

    ok: bool
    t_ready: int
    deliveries: list[tuple[int, int]]
    error: str = ""


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (a zero mask keeps the payload as is, which RFC 6455 allows)."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + _ZERO_MASK + payload


def _request(spec: SubSpec) -> tuple[bytes, bytes | None]:
    """The request, and for WebSocket the `Sec-WebSocket-Accept` a correct server answers."""
    lines = [f"GET {spec.path} HTTP/1.1", f"Host: 127.0.0.1:{spec.port}"]
    accept = None
    if spec.kind == SSE:
        lines.append("Accept: text/event-stream")
    else:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}"]
        lines.append("Sec-WebSocket-Version: 13")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
    lines += [f"{name}: {value}" for name, value in spec.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), accept


def _accept_key(response: bytes) -> bytes | None:
    """The `Sec-WebSocket-Accept` value of a response head (base64: compared exactly)."""
    for line in response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-accept":
            return value.strip()
    return None


class Subscriber(asyncio.Protocol):
    """Keeps (monotonic ns, bytes) per read; answers pings so idle runs stay connected."""

    def __init__(self, spec: SubSpec, clock: list[int], mark: bytes) -> None:
        self.spec = spec
        self.clock = clock
        self.mark = mark
        self.chunks: list[tuple[int, bytes]] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.token = spec.ready.encode()
        self.t_ready = 0
        self.transport: asyncio.Transport | None = None
        self.sio_connected = False
        self.error = ""
        self.accept: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        request, self.accept = _request(self.spec)
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.chunks.append((now, data))
        if self.mark in data:
            # Deliveries only: heartbeats arrive all the time and must not look like traffic.
            self.clock[0] = now
        assert self.transport is not None
        ping = data.find(b"\x89") if self.spec.kind == WS else -1
        if 0 <= ping < len(data) - 1:
            # A server ping, maybe behind an event in the same read: answer with its payload.
            # (A length byte that happens to be 0x89 costs one stray pong, which servers ignore.)
            size = data[ping + 1] & 0x7F
            self.transport.write(client_frame(data[ping + 2 : ping + 2 + size], 0xA))
        elif self.spec.kind == SIO and data.endswith(_SIO_PING):
            self.transport.write(client_frame(b"3"))
        if self.t_ready:
            return
        seen = b"".join(chunk for _, chunk in self.chunks)
        if self.spec.kind == SIO and not self.sio_connected and b"0{" in seen:
            self.sio_connected = True
            self.transport.write(client_frame(b"40"))
        if self.token in seen:
            if self.accept is not None and _accept_key(seen) != self.accept:
                self.error = "wrong or missing Sec-WebSocket-Accept"
                self.ready.set_exception(ConnectionError(self.error))
                self.transport.abort()
                return
            self.t_ready = now
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.error = f"closed before ready: {exc!r}"
            self.ready.set_exception(ConnectionError(self.error))

    def result(self, marker: re.Pattern[bytes]) -> SubResult:
        deliveries = [
            (int(seq), t)
            for t, message in messages(self.spec.kind, self.chunks)
            for seq in marker.findall(message)
        ]
        return SubResult(bool(self.t_ready), self.t_ready, deliveries, self.error)


def _dechunk(buf: bytes) -> tuple[bytes, bytes]:
    """Decode the complete chunks of a chunked body; returns (decoded, undecoded rest)."""
    out = b""
    while (eol := buf.find(b"\r\n")) >= 0:
        size = int(buf[:eol].split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            break
        out += buf[eol + 2 : eol + 2 + size]
        buf = buf[eol + 4 + size :]
    return out, buf


_SSE_EVENT_END = re.compile(rb"\r?\n\r?\n")


def messages(kind: str, chunks: Sequence[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """Every complete SSE event or WebSocket text message, stamped with the read that ended it."""
    buf = body = b""
    head: bytes | None = None
    for t, data in chunks:
        buf += data
        if head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                continue
            head, buf = buf[:end].lower(), buf[end + 4 :]
        if kind == SSE:
            decoded, buf = _dechunk(buf) if b"transfer-encoding: chunked" in head else (buf, b"")
            *events, body = _SSE_EVENT_END.split(body + decoded)
            yield from ((t, event) for event in events)
            continue
        while len(buf) >= 2:
            size, start = buf[1] & 0x7F, 2
            if size >= 126:
                start = 4 if size == 126 else 10
                if len(buf) < start:
                    break
                size = int.from_bytes(buf[2:start], "big")
            if len(buf) < start + size:
                break
            if buf[0] & 0x0F == 0x1:
                yield t, buf[start : start + size]
            buf = buf[start + size :]


async def _quiet(clock: list[int], since: int, quiet: float, limit: float) -> None:
    """Wait until something arrived after `since` (monotonic ns) and then nothing for `quiet` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        idle = (time.monotonic_ns() - clock[0]) / 1e9
        if clock[0] > since and idle >= quiet:
            return
        await asyncio.sleep(quiet - idle if clock[0] > since else 0.002)


async def _connected(loop: asyncio.AbstractEventLoop, spec: SubSpec) -> socket.socket:
    """A socket connected to the server from `spec.source`.

    The source port is left to connect(), which may reuse a port towards another destination,
    rather than to bind() (what `create_connection(local_addr=...)` does), whose search for a
    port of its own grows with every port bound: 10,000 subscribers from one address connected
    five times slower that way.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, _BIND_ADDRESS_NO_PORT, 1)
        sock.bind((spec.source, 0))
        await loop.sock_connect(sock, ("127.0.0.1", spec.port))
    except BaseException:
        sock.close()
        raise
    return sock


def _reset(sub: Subscriber) -> None:
    """Close with RST: no TIME-WAIT left behind for the next run's ports."""
    if sub.transport is None:
        return
    sock = sub.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sub.transport.abort()


async def _worker() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    config = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    mark = b"bench-" + config["nonce"].encode()
    marker = re.compile(re.escape(mark) + rb"-(\d+)")
    clock = [time.monotonic_ns()]
    subs = [Subscriber(SubSpec(**spec), clock, mark) for spec in config["subs"]]
    gate = asyncio.Semaphore(config.get("concurrency", 256))

    async def open_one(sub: Subscriber) -> None:
        async with gate:
            try:
                if sub.spec.source:
                    sock = await _connected(loop, sub.spec)
                    await loop.create_connection(lambda: sub, sock=sock)
                else:
                    await loop.create_connection(lambda: sub, "127.0.0.1", sub.spec.port)
                await asyncio.wait_for(sub.ready, config.get("timeout", 30))
            except (OSError, ConnectionError, TimeoutError) as exc:
                sub.error = sub.error or repr(exc)

    t_start, cpu = time.monotonic_ns(), time.process_time()
    await asyncio.gather(*(open_one(sub) for sub in subs))
    errors = [sub.error for sub in subs if sub.error]
    busy = time.process_time() - cpu
    _say({"ready": len(subs) - len(errors), "errors": errors[:3], "t_start": t_start, "cpu": busy})
    while (command := await loop.run_in_executor(None, sys.stdin.readline)).startswith("drain"):
        since = int(command.split()[1])
        await _quiet(clock, since, config.get("quiet", 0.2), config.get("drain_limit", 10))
        _say({"quiet": True})
    for sub in subs:
        _reset(sub)
    _say({"subs": [asdict(sub.result(marker)) for sub in subs]})
    if command.strip() != "close":
        raise SystemExit(f"unknown command {command!r}")


def _say(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Workers:
    """Load generator processes sharing the subscribers; results come back in spec order."""

    def __init__(
        self, specs: Sequence[SubSpec], nonce: str, processes: int = 1, **options: float
    ) -> None:
        share = -(-len(specs) // processes)
        self.slices = [specs[i : i + share] for i in range(0, len(specs), share)] or [[]]
        self.config = {"nonce": nonce, **options}
        self.procs: list[subprocess.Popen[str]] = []
        self.t_start = 0
        # CPU seconds the load generator spent opening every subscriber (all its processes).
        self.connect_cpu = 0.0

    def start(self) -> list[str]:
        """Open every subscriber; returns the first errors of those that failed."""
        for part in self.slices:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=die_with_parent,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(self.config | {"subs": [asdict(s) for s in part]}) + "\n")
            proc.stdin.flush()
            self.procs.append(proc)
        answers = self._ask("")
        self.t_start = min(answer["t_start"] for answer in answers)
        self.connect_cpu = sum(answer["cpu"] for answer in answers)
        return [error for answer in answers for error in answer["errors"]]

    def drain(self, since: int) -> None:
        """Wait until every worker received something after `since` (ns) and went quiet."""
        self._ask(f"drain {since}")

    def close(self) -> list[SubResult]:
        answers = self._ask("close")
        self._reap(kill=False)
        return [
            SubResult(s["ok"], s["t_ready"], [(d[0], d[1]) for d in s["deliveries"]], s["error"])
            for answer in answers
            for s in answer["subs"]
        ]

    def kill(self) -> None:
        self._reap(kill=True)

    def _reap(self, kill: bool) -> None:
        for proc in self.procs:
            if kill:
                proc.kill()
            proc.wait(30)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        self.procs = []

    def _ask(self, command: str) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            if command:
                proc.stdin.write(command + "\n")
                proc.stdin.flush()
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"load generator {proc.pid} exited ({proc.wait(10)})")
            answers.append(json.loads(line))
        return answers


if __name__ == "__main__":
    uvloop.run(_worker())
