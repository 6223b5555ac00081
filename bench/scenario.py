"""One measured run against one target: subscribe, publish, drain, verify exactly-once, report."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from bench.loadgen import SubResult, SubSpec, Workers
from bench.procs import Server, Usage, running
from bench.targets import ALERT_REGION, OTHER_REGIONS, Target
from tests.support.processes import redis_process

_SETTLE = 0.5  # seconds for a server to finish accepting before its memory is read
_PADDING = "Several airlines cancel flights to and from the capital after the airspace closes"


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
    problems: list[str] = field(default_factory=list)
    fanout_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us: float | None = None
    per_core: float | None = None
    kb_per_conn: float | None = None
    connects_per_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _usage(servers: Sequence[Server]) -> Usage:
    total = Usage(0.0, 0)
    for server in servers:
        usage = server.usage()
        total = Usage(total.cpu + usage.cpu, total.rss + usage.rss)
    return total


class Publisher:
    """An editor on one keep-alive connection; remembers when each alert was sent."""

    def __init__(self, target: Target, port: int, nonce: str) -> None:
        self.target, self.nonce = target, nonce
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.sent: list[int] = []
        self.ids: list[str] = []

    def post(self) -> int:
        post = self.target.post(f"bench-{self.nonce}-{len(self.sent)} {_PADDING}")
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

    def close(self) -> None:
        self.conn.close()


def layout(
    target: Target, ports: Sequence[int], n: int, transports: Sequence[str], resume: str = ""
) -> tuple[list[SubSpec], list[bool]]:
    """N subscribers with transports interleaved, and which of them follow ALERT_REGION (half)."""
    width = len(transports)
    specs, matching = [], []
    for i in range(n):
        group = i // width
        follows = group % 2 == 0
        region = ALERT_REGION if follows else OTHER_REGIONS[(group // 2) % len(OTHER_REGIONS)]
        port = ports[(group // 2) % len(ports)]
        specs.append(target.subscriber(port, transports[i % width], region, resume))
        matching.append(follows)
    return specs, matching


def verify(
    matching: Sequence[bool], results: Sequence[SubResult], expected: Sequence[int]
) -> list[str]:
    """Every matching subscriber got each expected alert exactly once, and no one else got it."""
    failed = lost = duplicated = leaked = 0
    for follows, result in zip(matching, results, strict=True):
        if not result.ok:
            failed += 1
            continue
        counts = Counter(seq for seq, _ in result.deliveries)
        for seq in expected if follows else ():
            lost += counts[seq] == 0
            duplicated += counts[seq] > 1
        leaked += sum(c for seq, c in counts.items() if not follows or seq not in expected)
    problems = [
        f"{count} {what}"
        for count, what in (
            (failed, "subscribers failed"),
            (lost, "deliveries lost"),
            (duplicated, "deliveries duplicated"),
            (leaked, "deliveries leaked"),
        )
        if count
    ]
    errors = {r.error for r in results if r.error}
    return problems + [f"e.g. {e}" for e in sorted(errors)[:1]]


@contextmanager
def _servers(target: Target, nodes: int, redis: bool) -> Iterator[Sequence[Server]]:
    with ExitStack() as stack:
        url = None
        if redis or target.needs_redis:
            url = stack.enter_context(redis_process()).url
        yield stack.enter_context(running(target.servers(nodes, url)))


def _broker(target: Target, redis: bool) -> str:
    return "redis" if redis and target.broker == "memory" else target.broker


def fanout(
    target: Target,
    n: int,
    alerts: int,
    *,
    transports: Sequence[str] | None = None,
    nodes: int = 1,
    redis: bool = False,
    burst: bool = False,
    processes: int = 1,
    warmup: int = 2,
) -> Result:
    """N subscribers, `alerts` measured alerts (one at a time, or back to back with `burst`).

    `warmup` alerts go first (JITs, caches), verified like the others but left out of the figures.
    """
    transports = tuple(transports or target.transports)
    kind = "saturation" if burst else ("idle" if alerts == 0 else "fanout")
    broker = _broker(target, redis)
    result = Result(target.name, kind, "+".join(transports), broker, n, alerts, nodes)
    if reason := target.missing():
        result.problems.append(f"not installed: {reason}")
        return result
    warmup = warmup if alerts else 0
    nonce = os.urandom(3).hex()
    with _servers(target, nodes, redis) as servers:
        time.sleep(_SETTLE)
        specs, matching = layout(target, [s.port for s in servers], n, transports)
        workers = Workers(specs, nonce, processes)
        publisher = Publisher(target, servers[0].port, nonce)
        try:
            before = _usage(servers)
            if errors := workers.start():
                result.problems.append(f"connect errors, e.g. {errors[0]}")
            time.sleep(_SETTLE)
            connected = _usage(servers)
            for _ in range(warmup):
                workers.drain(publisher.post())
            start = _usage(servers)
            for _ in range(alerts):
                t0 = publisher.post()
                if not burst:
                    workers.drain(t0)
            if burst and alerts:
                workers.drain(publisher.sent[-1])
            done = _usage(servers)
            results = workers.close()
        finally:
            workers.kill()
            publisher.close()
    result.problems += verify(matching, results, range(warmup + alerts))
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
    latencies = sorted((t - publisher.sent[seq]) / 1e6 for seq, t in deliveries)
    last: dict[int, int] = {}
    for seq, t in deliveries:
        last[seq] = max(last.get(seq, 0), t)
    result.fanout_ms = statistics.median((t - publisher.sent[s]) / 1e6 for s, t in last.items())
    result.p50_ms = latencies[len(latencies) // 2]
    result.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return result


def connect_rate(target: Target, n: int, history: int = 5, processes: int = 1) -> Result:
    """N subscribers connect at once, each resuming from a recent event id (a reconnect storm)."""
    result = Result(target.name, "connect", "+".join(target.transports), _broker(target, False), n)
    if not target.resumes:
        result.problems.append("resume not measured for this target")
        return result
    nonce = os.urandom(3).hex()
    with _servers(target, 1, False) as servers:
        publisher = Publisher(target, servers[0].port, nonce)
        for _ in range(history):
            publisher.post()
        publisher.close()
        resume_from = 1
        resume = publisher.ids[resume_from]
        specs, matching = layout(target, [servers[0].port], n, target.transports, resume)
        workers = Workers(specs, nonce, processes)
        try:
            workers.start()
            workers.drain(0)
            results = workers.close()
        finally:
            workers.kill()
    result.problems += verify(matching, results, range(resume_from + 1, history))
    ends = [max([r.t_ready, *(t for _, t in r.deliveries)]) for r in results if r.ok]
    if ends:
        result.connects_per_s = len(ends) / ((max(ends) - workers.t_start) / 1e9)
    return result
