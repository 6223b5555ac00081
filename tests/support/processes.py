"""Real processes for the tests: a private redis-server and breaking-push nodes, each ended by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

EDITOR_TOKEN = "s3cret-desk-token"
WIRE_TOKEN = "wire-token-europe"
# desk may post anywhere; wire only to europe (a region-scoped token).
EDITOR_TOKENS = f"desk:{EDITOR_TOKEN},wire:{WIRE_TOKEN}@europe"
ALLOWED_ORIGIN = "https://news.example"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s")


@dataclass
class RedisProcess:
    """A private redis-server on a free port; `stop()`/`start()` simulate an outage."""

    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bp-redis-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make redis-server`")
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "yes" if appendonly else "no", "--dir", str(self.dir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_until(self._pings, 10, f"redis-server on {self.port}")
        except BaseException:
            self.stop()
            raise

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@contextmanager
def redis_process(*, appendonly: bool = False) -> Iterator[RedisProcess]:
    """Start a private redis-server and always end it by pid."""
    redis = RedisProcess()
    redis.start(appendonly=appendonly)
    try:
        yield redis
    finally:
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)


@dataclass
class ServiceProcess:
    """One `breaking-push serve` process on a free port."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(
        default_factory=lambda: Path(tempfile.mktemp(prefix="bp-node-", suffix=".log"))
    )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return EDITOR_TOKEN

    def start(self, *extra_args: str) -> None:
        args = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), *extra_args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until(self._healthy, 20, f"breaking-push on {self.port}")
        except BaseException:
            self.kill()
            raise

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None
            raise RuntimeError(f"breaking-push exited early:\n{self.output()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM (graceful shutdown) and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def service_env(redis_url: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a test node: known tokens, an allowed origin, fast heartbeats."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKING_")}
    env |= {
        "BREAKING_EDITOR_TOKENS": EDITOR_TOKENS,
        "BREAKING_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "BREAKING_HEARTBEAT_SECONDS": "1",
        # High enough for the suites; test_ingest starts a node with a low one to test 429.
        "BREAKING_PUBLISH_RATE_PER_MINUTE": "100000",
        # Every test client comes from 127.0.0.1 and many suites send wrong tokens on purpose;
        # tests/abuse starts nodes with low per-address limits to test them.
        "BREAKING_MAX_CONNECTIONS_PER_IP": "100000",
        "BREAKING_SIGNIN_FAILURES_PER_MINUTE": "100000",
        "BREAKING_LOG_LEVEL": "info",
    }
    if redis_url is not None:
        env["BREAKING_REDIS_URL"] = redis_url
    env |= overrides
    return env


@contextmanager
def service_process(
    redis_url: str | None = None, *extra_args: str, env: Mapping[str, str] | None = None
) -> Iterator[ServiceProcess]:
    """Run a node until the block ends, then kill it by pid."""
    node = ServiceProcess(env=service_env(redis_url, **dict(env or {})))
    node.start(*extra_args)
    try:
        yield node
    finally:
        node.kill()
        node.log.unlink(missing_ok=True)
