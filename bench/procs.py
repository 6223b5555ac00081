"""Servers under test as child processes, ended by pid, and their CPU and memory read from /proc."""

from __future__ import annotations

import os
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


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user+system) and resident memory of a process tree at one instant."""

    cpu: float
    rss: int

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu - other.cpu, self.rss - other.rss)


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


@dataclass
class Server:
    """One server under test: a command that listens on `port` once ready."""

    name: str
    args: Sequence[str]
    port: int
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(tempfile.mktemp(prefix="bp-bench-")))

    def start(self, timeout: float = 30) -> None:
        env = dict(os.environ) | dict(self.env or {})
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
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
        """SIGTERM, then SIGKILL after a grace period; by pid only."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
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


__all__ = ["Server", "Usage", "free_port", "running", "tree_usage"]
