"""One measured run against one target: subscribe, publish, drain, verify exactly-once, report."""

from __future__ import annotations

import http.client
import json
import math
import os
import resource
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import lag as loop_lag
from bench.layouts import EVERYONE, ONE_REGION, Layout, Regions, verify
from bench.loadgen import SubSpec, Workers
from bench.machine import Others
from bench.procs import Server, Usage, descendants, running
from bench.targets import TOKEN, Target
from tests.support.processes import redis_process

_SETTLE = 0.5  # seconds for a server to finish accepting before its memory is read
_PADDING = "Several airlines cancel flights to and from the capital after the airspace closes"
# Subscribers per loopback source address: each address has ~28,000 ephemeral ports towards
# one server port, and 127.0.0.1's are shared with everyone else's tests.
_PER_SOURCE = 20_000
# How long the desk's polls and Prometheus's scrapes are repeated, back to back.
_SCRAPING_S = 1.0
# Descriptors a load generator process keeps for itself beside its subscribers.
_LOADGEN_FDS = 1024


@dataclass
class Result:
    """Figures of one run; None where the run does not measure them."""

    target: str
    kind: str
    transports: str
    broker: str
    n: int
    alerts: int = 0
    nodes: int = 1
    workers: int = 1
    layout: str = ONE_REGION.name
    resume: bool = False
    # Runs of the same configuration this row combines (each figure the best of them).
    rounds: int = 1
    problems: list[str] = field(default_factory=list)
    fanout_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us: float | None = None
    per_core: float | None = None
    kb_per_conn: float | None = None
    connects_per_s: float | None = None
    connect_cpu_us: float | None = None
    # Cores busy during a connect storm: the server's and the load generator's.
    server_cores: float | None = None
    loadgen_cores: float | None = None
    # Descriptors each worker process held with every subscriber connected.
    fds: list[int] = field(default_factory=list)
    lag: dict[str, loop_lag.Phase] = field(default_factory=dict)
    # Cores that processes outside the bench used on average during the run.
    others: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def per_server_core(self) -> float | None:
        """Connects a second one core of the server could take, at its CPU per connect."""
        return 1e6 / self.connect_cpu_us if self.connect_cpu_us else None


def _usage(servers: Sequence[Server]) -> Usage:
    total = Usage(0.0, 0)
    for server in servers:
        usage = server.usage()
        total = Usage(total.cpu + usage.cpu, total.rss + usage.rss)
    return total


class Publisher:
    """An editor on one keep-alive connection; remembers when each alert was sent."""

    def __init__(self, target: Target, port: int, nonce: str, layout: Layout) -> None:
        self.target, self.nonce, self.layout = target, nonce, layout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.sent: list[int] = []
        self.ids: list[str] = []

    def post(self) -> int:
        seq = len(self.sent)
        post = self.target.post(f"bench-{self.nonce}-{seq} {_PADDING}", self.layout.regions_of(seq))
        headers = {"Content-Type": "application/json", **post.headers}
        t0 = time.monotonic_ns()
        self.conn.request("POST", post.path, body=json.dumps(post.body), headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status >= 300:
            raise RuntimeError(f"publish answered {response.status}: {body[:300]!r}")
        self.sent.append(t0)
        answer = json.loads(body) if body.startswith(b"{") else {}
        self.ids.append(str(answer.get("id", "")))
        return t0

    def get(self, path: str) -> None:
        """A GET on the same connection (the desk's polls, a Prometheus scrape)."""
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")

    def close(self) -> None:
        self.conn.close()


def sources(n: int) -> list[str]:
    """Source addresses for N subscribers: the kernel's (127.0.0.1) while its ephemeral ports
    suffice, else 127.0.0.2, 127.0.0.3, ... with ports of their own."""
    if n <= _PER_SOURCE:
        return [""]
    return [f"127.0.0.{2 + i}" for i in range(math.ceil(n / _PER_SOURCE))]


def loadgen_processes(n: int) -> int:
    """Load generator processes for N subscribers: as few as the descriptor limit allows."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, math.ceil(n / (soft - _LOADGEN_FDS)))


def subscribers(
    target: Target,
    ports: Sequence[int],
    n: int,
    transports: Sequence[str],
    layout: Layout,
    resume: str = "",
) -> tuple[list[SubSpec], list[Regions]]:
    """N subscribers with transports interleaved, each transport given the same regions, each
    round of the layout on one node in turn; and the regions each follows."""
    width = len(transports)
    follows = layout.following(n, width)
    addresses = sources(n)
    specs = [
        target.subscriber(
            ports[(i // (width * len(layout.follows))) % len(ports)],
            transports[i % width],
            follows[i],
            resume,
            addresses[i % len(addresses)],
        )
        for i in range(n)
    ]
    return specs, follows


@contextmanager
def _servers(
    target: Target, nodes: int, redis: bool, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Sequence[Server]]:
    with ExitStack() as stack:
        url = None
        if redis or target.needs_redis or workers > 1:
            url = stack.enter_context(redis_process()).url
        yield stack.enter_context(running(target.servers(nodes, url, workers=workers, env=env)))


def _broker(target: Target, redis: bool) -> str:
    return "redis" if redis and target.broker == "memory" else target.broker


def _descriptors(server: Server) -> list[int]:
    """Open descriptors of each worker process (`serve --workers` spawns them), fewest first."""
    assert server.proc is not None
    workers = [
        pid
        for pid in descendants(server.proc.pid)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return sorted(len(os.listdir(f"/proc/{pid}/fd")) for pid in workers or [server.proc.pid])


def _latencies(result: Result, deliveries: list[tuple[int, int]], sent: list[int]) -> None:
    """Fan-out time (median over alerts of POST to last receipt) and per-delivery p50/p99."""
    latencies = sorted((t - sent[seq]) / 1e6 for seq, t in deliveries)
    last: dict[int, int] = {}
    for seq, t in deliveries:
        last[seq] = max(last.get(seq, 0), t)
    result.fanout_ms = statistics.median((t - sent[s]) / 1e6 for s, t in last.items())
    result.p50_ms = latencies[len(latencies) // 2]
    result.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def fanout(
    target: Target,
    n: int,
    alerts: int,
    *,
    transports: Sequence[str] | None = None,
    layout: Layout = ONE_REGION,
    nodes: int = 1,
    workers: int = 1,
    redis: bool = False,
    burst: bool = False,
    processes: int | None = None,
    warmup: int = 2,
) -> Result:
    """N subscribers, `alerts` measured alerts (one at a time, or back to back with `burst`).

    `warmup` alerts go first (JITs, caches), verified like the others but left out of the figures.
    With `workers` above 1, one node runs `serve --workers` on a private Redis.
    """
    transports = tuple(transports or target.transports)
    kind = "saturation" if burst else ("idle" if alerts == 0 else "fanout")
    broker = "redis" if workers > 1 else _broker(target, redis)
    result = Result(target.name, kind, "+".join(transports), broker, n, alerts, nodes, workers)
    result.layout = layout.name
    if reason := target.missing():
        result.problems.append(f"not installed: {reason}")
        return result
    warmup = warmup if alerts else 0
    nonce = os.urandom(3).hex()
    others = Others.start()
    with _servers(target, nodes, redis, workers) as servers:
        time.sleep(_SETTLE)
        specs, follows = subscribers(target, [s.port for s in servers], n, transports, layout)
        gen = Workers(specs, nonce, processes or loadgen_processes(n))
        publisher = Publisher(target, servers[0].port, nonce, layout)
        try:
            before = _usage(servers)
            if errors := gen.start():
                result.problems.append(f"connect errors, e.g. {errors[0]}")
            time.sleep(_SETTLE)
            connected = _usage(servers)
            result.fds = _descriptors(servers[0])
            for _ in range(warmup):
                gen.drain(publisher.post())
            start = _usage(servers)
            for _ in range(alerts):
                t0 = publisher.post()
                if not burst:
                    gen.drain(t0)
            if burst and alerts:
                gen.drain(publisher.sent[-1])
            done = _usage(servers)
            results = gen.close()
        finally:
            gen.kill()
            publisher.close()
    result.others = others.cores()
    result.problems += verify(layout, follows, results, range(warmup + alerts))
    result.kb_per_conn = (connected.rss - before.rss) / n / 1024 if n else None
    if not alerts:
        return result
    deliveries = [(seq, t) for r in results for seq, t in r.deliveries if seq >= warmup]
    if not deliveries:
        result.problems.append("nothing was delivered")
        return result
    cpu = (done - start).cpu
    result.cpu_us = cpu / max(len(deliveries), 1) * 1e6
    if burst:
        result.per_core = len(deliveries) / cpu if cpu else None
        return result
    _latencies(result, deliveries, publisher.sent)
    return result


def across_workers(target: Target, n: int, alerts: int, workers: int) -> Result:
    """Everyone follows the alert's region, on a private Redis, under `serve --workers`."""
    result = fanout(target, n, alerts, layout=EVERYONE, workers=workers, redis=True)
    result.kind = "workers"
    return result


def connect_rate(
    target: Target, n: int, transport: str, resume: bool, history: int = 5, processes: int = 1
) -> Result:
    """N subscribers of one transport connect at once (a reconnect storm), each resuming from a
    recent event id with `resume`, else from nothing."""
    result = Result(target.name, "connect", transport, _broker(target, False), n, resume=resume)
    if resume and not target.resumes:
        result.problems.append("resume not measured for this target")
        return result
    nonce = os.urandom(3).hex()
    others = Others.start()
    with _servers(target, 1, False) as servers:
        publisher = Publisher(target, servers[0].port, nonce, ONE_REGION)
        for _ in range(history):
            publisher.post()
        publisher.close()
        resume_from = 1
        since = publisher.ids[resume_from] if resume else ""
        port = servers[0].port
        specs, follows = subscribers(target, [port], n, (transport,), ONE_REGION, since)
        gen = Workers(specs, nonce, processes)
        try:
            before = _usage(servers)
            gen.start()
            gen.drain(0)
            after = _usage(servers)
            results = gen.close()
        finally:
            gen.kill()
    result.others = others.cores()
    replayed = range(resume_from + 1, history) if resume else range(0)
    result.problems += verify(ONE_REGION, follows, results, replayed)
    ends = [max([r.t_ready, *(t for _, t in r.deliveries)]) for r in results if r.ok]
    if ends:
        storm = (max(ends) - gen.t_start) / 1e9
        result.connects_per_s = len(ends) / storm
        result.connect_cpu_us = (after - before).cpu / len(ends) * 1e6
        result.server_cores = min((after - before).cpu / storm, float(os.cpu_count() or 1))
        result.loadgen_cores = gen.connect_cpu / storm
    return result


def ticks(target: Target, n: int, alerts: int, layout: Layout, heartbeat_s: float) -> Result:
    """The loop-lag probe read around heartbeats, scrapes and a fan-out at N subscribers.

    Heartbeats come every `heartbeat_s` so that a short phase sees whole rounds of them, and the
    probe every 10 ms, so that any tick over 20 ms shows as at least 10 ms late.
    """
    result = Result(target.name, "ticks", "+".join(target.transports), "memory", n, alerts)
    result.layout = layout.name
    nonce = os.urandom(3).hex()
    env = {
        "BREAKING_HEARTBEAT_SECONDS": str(heartbeat_s),
        "BREAKING_LOOP_LAG_PROBE_SECONDS": "0.01",
    }
    others = Others.start()
    with _servers(target, 1, False, env=env) as servers:
        port = servers[0].port
        specs, follows = subscribers(target, [port], n, target.transports, layout)
        gen = Workers(specs, nonce, loadgen_processes(n))
        publisher = Publisher(target, port, nonce, layout)
        try:
            marks = [loop_lag.scrape(port)]
            gen.start()
            marks.append(loop_lag.scrape(port))
            time.sleep(heartbeat_s * 1.25)
            marks.append(loop_lag.scrape(port))
            scraping = time.monotonic() + _SCRAPING_S
            while time.monotonic() < scraping:
                publisher.get("/metrics")
                publisher.get("/v1/stats")
            marks.append(loop_lag.scrape(port))
            for _ in range(alerts):
                gen.drain(publisher.post())
            marks.append(loop_lag.scrape(port))
            results = gen.close()
        finally:
            gen.kill()
            publisher.close()
    result.others = others.cores()
    names = ("connect storm", "heartbeats", "scrapes", "fan-out")
    pairs = zip(names, marks[:-1], marks[1:], strict=True)
    result.lag = {name: loop_lag.phase(a, b) for name, a, b in pairs}
    result.problems += verify(layout, follows, results, range(alerts))
    return result
