"""Hostile clients over raw loopback sockets, each bounded in bytes and time, and the node's RSS.

Shared by the abuse tests and by bench/abuse.py, which runs them against any checkout to
give the before/after figures.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from websockets.frames import Frame, Opcode

# A client that reads nothing also takes little: the node's writes stall sooner.
_SMALL_RCVBUF = 4096


def socket_answers(socks: list[socket.socket]) -> dict[str, int]:
    """What each socket got so far: a status code, `closed`, `reset`, or `open` (nothing yet)."""
    seen: dict[str, int] = {}
    for sock in socks:
        sock.setblocking(False)
        try:
            data = sock.recv(64)
            what = data[9:12].decode() if data else "closed"
        except BlockingIOError:
            what = "open"
        except OSError:
            what = "reset"
        seen[what] = seen.get(what, 0) + 1
    return seen


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB, from /proc (no extra dependency)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class RssWatch:
    """The node's RSS before an attack and its peak during it, sampled every 50 ms."""

    pid: int
    before: float = 0.0
    peak: float = 0.0
    after: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
            except (OSError, RuntimeError):
                return

    @property
    def growth(self) -> float:
        return self.peak - self.before

    def __str__(self) -> str:
        return f"RSS {self.before:.0f} -> peak {self.peak:.0f} MiB (+{self.growth:.0f})"


@contextmanager
def watch_rss(pid: int) -> Iterator[RssWatch]:
    watch = RssWatch(pid)
    watch.before = watch.peak = rss_mb(pid)
    sampler = threading.Thread(target=watch._sample, daemon=True)
    sampler.start()
    try:
        yield watch
    finally:
        watch._stop.set()
        sampler.join()
        watch.after = rss_mb(pid)
        watch.peak = max(watch.peak, watch.after)


def connect(port: int, source: str = "127.0.0.1", *, small_rcvbuf: bool = False) -> socket.socket:
    """A TCP connection to the node from `source` (any 127.0.0.0/8 address is a distinct client)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SMALL_RCVBUF)
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


@dataclass
class Answer:
    """An HTTP response read off a raw socket (a problem body is small and length-delimited)."""

    status: int
    headers: dict[str, str]
    body: bytes


def read_answer(sock: socket.socket, timeout: float = 5) -> Answer:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body[:length] if length else body)


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Whether the node closes the connection within `within` seconds (reads what is left)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def ws_open(port: int, source: str = "127.0.0.1", query: str = "") -> socket.socket:
    """A raw WebSocket after its handshake; the caller reads (or does not read) the frames."""
    sock = connect(port, source, small_rcvbuf=True)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/ws{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    if not data.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(data.decode("latin-1"))
    return sock


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=True)


@dataclass
class Flood:
    """What a sending flood achieved: bytes sent and how it ended."""

    sent: int
    outcome: str  # "all sent", "node stopped reading", "closed by node"


def flood(sock: socket.socket, unit: bytes, total: int, stall_s: float = 3.0) -> Flood:
    """Send `unit` repeatedly up to `total` bytes without reading a byte of the answers."""
    sock.settimeout(0.2)
    burst = unit * max(1, 16384 // len(unit))
    sent = 0
    stalled_since: float | None = None
    while sent < total:
        try:
            n = sock.send(burst)
        except TimeoutError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > stall_s:
                return Flood(sent, "node stopped reading")
            continue
        except OSError:
            return Flood(sent, "closed by node")
        stalled_since = None
        sent += n
    return Flood(sent, "all sent")


def dropped_while_unread(sock: socket.socket, within: float) -> bool:
    """Whether the node ends a connection we never read from (a send then fails with a reset)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            sock.send(b"\x00")
        except TimeoutError:
            pass
        except OSError:
            return True
        time.sleep(0.2)
    return False


def endless_header(port: int, path: str, total: int, source: str = "127.0.0.1") -> Flood:
    """One header field that never ends."""
    sock = connect(port, source)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Long: ".encode())
        return flood(sock, b"a" * 4096, total)


def slow_sockets(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """`count` connections that each sent the first bytes of a request head, and no more."""
    socks = []
    for _ in range(count):
        sock = connect(port, source)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        socks.append(sock)
    return socks
