"""Servers under test as child processes, ended by pid, and their CPU and memory read from /proc."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port

_PAGE = os.sysconf("SC_PAGE_SIZE")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_TCP_LISTEN = "0A"  # the state column of /proc/net/tcp
_GRACE_S = 5.0


def raise_fd_limit() -> int:
    """Lift this process's soft descriptor limit to the hard one (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def die_with_parent() -> None:
    """In a child before exec: SIGTERM it when the bench dies, even by SIGKILL (no orphans)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user+system) and resident memory of a process tree at one instant."""

    cpu: float
    rss: int

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.rss - other.rss)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`."""
    found, todo = [], [pid]
    while todo:
        try:
            kids = _children(todo.pop())
        except (FileNotFoundError, ProcessLookupError):
            continue
        found += kids
        todo += kids
    return found


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        kids += [int(k) for k in task.read_text().split()]
    return kids


def _cpu_seconds(pid: int) -> float:
    """On-CPU time (user+system) of every thread, from schedstat's nanosecond counters."""
    return (
        sum(
            int(task.read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").glob("*/schedstat")
        )
        / 1e9
    )


def tree_usage(pid: int) -> Usage:
    """User+system CPU and RSS summed over `pid` and all its descendants."""
    cpu = 0.0
    rss = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            statm = Path(f"/proc/{current}/statm").read_text()
            cpu += _cpu_seconds(current)
            todo += _children(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
        rss += int(statm.split()[1]) * _PAGE
    return Usage(cpu, rss)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def listeners(port: int) -> int:
    """How many sockets listen on `port` (one per worker when each binds with SO_REUSEPORT)."""
    hex_port = f"{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += fields[1].endswith(":" + hex_port) and fields[3] == _TCP_LISTEN
    return count


def _started(pid: int) -> str:
    """When `pid` started (clock ticks since boot): tells a process from a later one that
    reuses its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _end(pids: Sequence[tuple[int, str]]) -> None:
    """Wait a grace period for each process to exit, then SIGKILL it if it is still the same."""
    deadline = time.monotonic() + _GRACE_S
    for pid, started in pids:
        while _started(pid) == started and time.monotonic() < deadline:
            time.sleep(0.05)
        if _started(pid) == started:
            os.kill(pid, signal.SIGKILL)


@dataclass
class Server:
    """One server under test: a command that listens on `port` once ready."""

    name: str
    args: Sequence[str]
    port: int
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    # Sockets that listen once it is ready: `serve --workers N` opens one per worker.
    sockets: int = 1
    # A scratch directory of its own (Nchan's configuration), removed with its log.
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(tempfile.mktemp(prefix="bp-bench-")))

    def start(self, timeout: float = 30) -> None:
        env = dict(os.environ) | dict(self.env or {})
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                env=env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while not (port_open(self.port) and listeners(self.port) >= self.sockets):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.output()[-2000:]}")
            time.sleep(0.05)

    def usage(self) -> Usage:
        assert self.proc is not None
        return tree_usage(self.proc.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period, and the same for its workers; by pid."""
        if self.proc is None:
            return
        workers = [(pid, _started(pid)) for pid in descendants(self.proc.pid)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(_GRACE_S)
        _end(workers)
        self.proc = None


@contextmanager
def running(servers: Sequence[Server]) -> Iterator[Sequence[Server]]:
    """Start every server in order and always stop them all."""
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()
        for server in servers:
            server.log.unlink(missing_ok=True)
            if server.workdir is not None:
                shutil.rmtree(server.workdir, ignore_errors=True)


__all__ = ["Server", "Usage", "free_port", "running", "tree_usage"]
