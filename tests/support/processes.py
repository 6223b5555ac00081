"""Real processes for the tests: a private redis-server and breaking-push nodes, each ended by pid."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

EDITOR_TOKEN = "s3cret-desk-token"
WIRE_TOKEN = "wire-token-europe"
# desk may post anywhere; wire only to europe (a region-scoped token).
EDITOR_TOKENS = f"desk:{EDITOR_TOKEN},wire:{WIRE_TOKEN}@europe"
ALLOWED_ORIGIN = "https://news.example"
# The Python that runs nodes: this one, unless the tests run from a client-only virtualenv
# (tests/client/test_distribution.py), which has no server to run.
SERVER_PYTHON = os.environ.get("BREAKING_TEST_SERVER_PYTHON", sys.executable)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(probe: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `probe` until it holds; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout}s")


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it:
    ca.crt, redis.crt/redis.key and client.crt/client.key."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA")
    openssl("req", *key, "-keyout", "redis.key", "-out", "redis.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    signed = ("-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2")
    openssl("x509", "-req", "-in", "redis.csr", *signed, "-out", "redis.crt", "-extfile", "san.ext")
    openssl("req", *key, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=node")
    openssl("x509", "-req", "-in", "client.csr", *signed, "-out", "client.crt")


RedisMode = Literal["tcp", "tls", "unix"]


@dataclass
class RedisProcess:
    """A private redis-server on a free port; `stop()`/`start()` simulate an outage.

    `mode` "tls" serves only TLS on `port` with certificates made for it, and requires a
    client certificate; "unix" serves only a unix socket in `dir`. With `password`, clients
    and replicas must sign in (`requirepass`, `masterauth`).
    """

    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bp-redis-")))
    proc: subprocess.Popen[bytes] | None = None
    mode: RedisMode = "tcp"
    # More redis-server options (a cluster node's, say), appended to the command line.
    options: tuple[str, ...] = ()
    password: str | None = None

    @property
    def socket_path(self) -> Path:
        return self.dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.mode == "unix":
            return f"unix://{self.socket_path}?db=0"
        if self.mode == "tls":
            files = {"ca_certs": "ca.crt", "certfile": "client.crt", "keyfile": "client.key"}
            query = "&".join(f"ssl_{name}={self.dir / file}" for name, file in files.items())
            return f"rediss://127.0.0.1:{self.port}/0?{query}"
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def start(self, *, appendonly: bool = False) -> None:
        args = [redis_server_binary(), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes" if appendonly else "no", "--dir", str(self.dir)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.mode == "tcp":
            args += ["--port", str(self.port)]
        elif self.mode == "unix":
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        else:
            if not (self.dir / "ca.crt").exists():
                make_certificates(self.dir)
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "yes"]
            args += ["--tls-cert-file", "redis.crt", "--tls-key-file", "redis.key"]
            args += ["--tls-ca-cert-file", "ca.crt"]
        self._run([*args, *self.options])

    def _run(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_until(self._pings, 10, f"redis-server ({self.mode}) on {self.port}")
        except BaseException:
            self.stop()
            raise

    def _connect(self, timeout: float) -> socket.socket:
        if self.mode == "unix":
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.socket_path))
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.mode == "tls":
            context = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
            context.load_cert_chain(self.dir / "client.crt", self.dir / "client.key")
            return context.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def command(self, *args: str | bytes) -> bytes:
        """One raw RESP command and its raw reply, so a test does not share the client under test."""
        with self._connect(2) as sock:
            if self.password:
                sock.sendall(_resp("AUTH", self.password))
                if not sock.recv(64).startswith(b"+OK"):
                    raise ConnectionError(f"AUTH refused by redis-server on {self.port}")
            sock.sendall(_resp(*args))
            return sock.recv(65536)

    def _pings(self) -> bool:
        try:
            return self.command("PING").startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the server answers nothing until `resume`, though its sockets stay open."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


def redis_server_binary() -> str:
    """The redis-server to run; also run with `--sentinel` for Sentinels."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make redis-server`")
    return binary


def _resp(*args: str | bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@contextmanager
def redis_process(
    *, appendonly: bool = False, mode: RedisMode = "tcp", options: tuple[str, ...] = ()
) -> Iterator[RedisProcess]:
    """Start a private redis-server and always end it by pid."""
    redis = RedisProcess(mode=mode, options=options)
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
        args = [SERVER_PYTHON, "-m", "service", "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), *extra_args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(self._healthy, 20, f"breaking-push on {self.port}")
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


@asynccontextmanager
async def serving(
    redis_url: str | None = None, *extra_args: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServiceProcess]:
    """`service_process` for async tests: the start-up wait runs off the event loop, so
    anything the node needs from the test's loop (a proxy in front of Redis) keeps serving."""
    node = ServiceProcess(env=service_env(redis_url, **dict(env or {})))
    await asyncio.to_thread(node.start, *extra_args)
    try:
        yield node
    finally:
        node.kill()
        node.log.unlink(missing_ok=True)


async def readyz_becomes(node: ServiceProcess, status: int, within: float = 15) -> float:
    """Wait until the node's /readyz answers `status`; return how long that took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient() as client, asyncio.timeout(within):
        while True:
            try:
                if (await client.get(f"{node.url}/readyz", timeout=1)).status_code == status:
                    return loop.time() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
