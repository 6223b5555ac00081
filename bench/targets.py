"""Servers under test: how to start each one, subscribe to it and publish to it."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.layouts import ALERT_REGION, Regions
from bench.loadgen import SIO, SSE, WS, SubSpec
from bench.procs import Server, free_port

REPO = Path(__file__).parent.parent
PEERS = REPO / "bench" / "peers"
PEER_PYTHON = PEERS / ".venv" / "bin" / "python"
TOKEN = "s3cret-bench-token"  # 16+ characters: shorter tokens are refused


@dataclass(frozen=True)
class Post:
    """One publish request."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class Target:
    """A server speaking breaking-push's API (SSE, WebSocket, POST /v1/alerts)."""

    name: ClassVar[str]
    transports: ClassVar[tuple[str, ...]] = (SSE, WS)
    broker: ClassVar[str] = "memory"
    # Peers all need Redis (their recipes in PEERS.md); resume is measured for our API only.
    needs_redis: ClassVar[bool] = False
    resumes: ClassVar[bool] = True
    # Only ours runs several worker processes on one port (`serve --workers N`).
    has_workers: ClassVar[bool] = False
    paths: ClassVar[dict[str, str]] = {SSE: "/v1/events?region={}", WS: "/v1/ws?region={}"}
    ready: ClassVar[dict[str, str]] = {SSE: "\r\n\r\n", WS: "\r\n\r\n", SIO: "40{"}

    def missing(self) -> str:
        """Why this target cannot run here ('' when it can)."""
        return ""

    def argv(self, port: int, redis_url: str | None, workdir: Path) -> list[str]:
        raise NotImplementedError

    def env(self, port: int, redis_url: str | None) -> dict[str, str]:
        return {"PORT": str(port), "REDIS_URL": redis_url or ""}

    def servers(
        self,
        count: int = 1,
        redis_url: str | None = None,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> list[Server]:
        """`count` nodes of this target (more than one share `redis_url`), `workers` each."""
        if workers > 1 and not self.has_workers:
            raise ValueError(f"{self.name} has no --workers")
        nodes = []
        for _ in range(count):
            port = free_port()
            workdir = Path(tempfile.mkdtemp(prefix=f"bp-{self.name}-"))
            argv = self.argv(port, redis_url, workdir)
            argv += ["--workers", str(workers)] if workers > 1 else []
            environment = self.env(port, redis_url) | (env or {})
            server = Server(
                self.name, argv, port, environment, REPO, sockets=workers, workdir=workdir
            )
            nodes.append(server)
        return nodes

    def subscriber(
        self, port: int, transport: str, regions: Regions, resume: str = "", source: str = ""
    ) -> SubSpec:
        path = self.paths[transport].format(",".join(regions))
        headers = {"Last-Event-ID": resume} if resume and transport == SSE else {}
        if resume and transport != SSE:
            path += f"&last_event_id={resume}"
        return SubSpec(port, transport, path, self.ready[transport], headers, source)

    def post(self, headline: str, regions: Regions = (ALERT_REGION,)) -> Post:
        body = {"headline": headline, "regions": list(regions), "language": "en"}
        return Post("/v1/alerts", body, {"Authorization": f"Bearer {TOKEN}"})


class Ours(Target):
    """breaking-push itself: one node per process."""

    name = "breaking-push"
    ready: ClassVar[dict[str, str]] = {**Target.ready, WS: '"ready"'}
    has_workers = True

    def argv(self, port: int, redis_url: str | None, workdir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    def env(self, port: int, redis_url: str | None) -> dict[str, str]:
        env = {
            "BREAKING_EDITOR_TOKENS": f"desk:{TOKEN}",
            "BREAKING_PUBLISH_RATE_PER_MINUTE": "1000000",
            # The load generator's thousands of subscribers all come from loopback.
            "BREAKING_MAX_CONNECTIONS_PER_IP": "1000000",
            "BREAKING_LOG_LEVEL": "warning",
        }
        return env | ({"BREAKING_REDIS_URL": redis_url} if redis_url else {})


class Floor(Target):
    """The raw uvloop floor in bench/floor.py: same API, nothing else."""

    name = "floor"
    broker = "-"

    def argv(self, port: int, redis_url: str | None, workdir: Path) -> list[str]:
        return [sys.executable, "-m", "bench.floor", "--port", str(port)]


class Nchan(Target):
    """Nchan in nginx (C), one worker, in-memory channels: the native reference."""

    name = "nchan"
    resumes = False
    paths: ClassVar[dict[str, str]] = {SSE: "/sub/{}", WS: "/sub/{}"}
    module = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")

    def missing(self) -> str:
        if shutil.which("nginx") is None or not self.module.exists():
            return "nginx or libnginx-mod-nchan not installed (bench/peers/install.py)"
        return ""

    def argv(self, port: int, redis_url: str | None, workdir: Path) -> list[str]:
        config = (PEERS / "nchan.conf").read_text()
        config = config.replace("@DIR@", str(workdir)).replace("@PORT@", str(port))
        (workdir / "nginx.conf").write_text(config.replace("@MODULE@", str(self.module)))
        return ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")]

    def post(self, headline: str, regions: Regions = (ALERT_REGION,)) -> Post:
        # Nchan relays the body as is, so the bench sends the whole event, as our server would.
        # One channel per region: a multi-region alert would need one POST each.
        (region,) = regions
        ms = time.time_ns() // 1_000_000
        event = {"id": f"{ms}-0", "type": "alert", "alert_id": f"{ms}-0"}
        event |= super().post(headline, regions).body | {"priority": "breaking", "published_at": ms}
        return Post(f"/pub/{region}", event, {})


class _Peer(Target):
    """A peer from bench/peers/: publishes through its own POST /v1/alerts into Redis."""

    broker = "redis"
    needs_redis = True
    resumes = False
    script: ClassVar[str]

    def missing(self) -> str:
        runtime = PEER_PYTHON if self.script.endswith(".py") else PEERS / "node_modules"
        return "" if runtime.exists() else f"{runtime.name} missing (bench/peers/install.py)"

    def argv(self, port: int, redis_url: str | None, workdir: Path) -> list[str]:
        runtime = str(PEER_PYTHON) if self.script.endswith(".py") else "node"
        return [runtime, str(PEERS / self.script)]


class NodeWs(_Peer):
    name = "node-ws"
    transports = (WS,)
    script = "node_ws.js"


class SocketIo(_Peer):
    name = "socket.io"
    transports = (SIO,)
    paths: ClassVar[dict[str, str]] = {SIO: "/socket.io/?EIO=4&transport=websocket&region={}"}
    script = "socketio.js"


class PySocketIo(SocketIo):
    name = "python-socketio"
    script = "psio_server.py"


class Broadcaster(_Peer):
    name = "broadcaster"
    transports = (SSE,)
    ready: ClassVar[dict[str, str]] = {SSE: ": ready"}
    script = "broadcaster_app.py"


TARGETS: dict[str, Target] = {
    t.name: t for t in (Ours(), Floor(), Nchan(), NodeWs(), SocketIo(), PySocketIo(), Broadcaster())
}
