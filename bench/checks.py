"""PASS/FAIL against the issues' targets (5 and 15), judged on the runs at hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import FLOOR, NCHAN, OURS
from bench.scenario import Result

# Issue 5: ahead of these on CPU, fan-out time and memory; level (within 10%) with Nchan.
PEERS = ("node-ws", "socket.io", "python-socketio", "broadcaster")
LEVEL = 1.10
# Issue 15's figures.
AT_FLOOR = 1.10
CONNECT_RATE = 0.8
CONNECT_CPU = 1.5
# Cores a server uses when it, not the load generator, sets the pace of a connect storm.
SATURATED = 0.8
WORKERS_CPU = 1.2
WORKERS_P99_MS = 1000.0
IDLE_KB = {"sse": 2.0, "ws": 2.5}
LAG_PHASES = ("heartbeats", "scrapes", "fan-out")


@dataclass(frozen=True)
class Check:
    """One target: what was measured and whether it passed (None: not measured in this run)."""

    target: str
    measured: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _find(
    results: Sequence[Result], target: str, kind: str, n: int, **match: object
) -> Result | None:
    for r in results:
        same_run = r.target == target and r.kind == kind and r.n == n and r.ok
        if same_run and all(getattr(r, key) == value for key, value in match.items()):
            return r
    return None


def _ns(results: Sequence[Result], kind: str, preferred: Sequence[int], layout: str) -> list[int]:
    """The N at which ours and the floor both ran: `preferred` ones, else the largest."""

    def sizes(target: str) -> set[int]:
        return {
            r.n
            for r in results
            if r.kind == kind and r.target == target and r.nodes == 1 and r.layout == layout
        }

    both = sorted(sizes(OURS) & sizes(FLOOR))
    return [n for n in preferred if n in both] or both[-1:]


def _vs_floor(
    name: str,
    ours: Result | None,
    floor: Result | None,
    metric: str,
    limit: float,
    unit: str,
    *,
    at_least: bool = False,
) -> Check:
    """Ours over the floor's `metric` within `limit` (or at least `limit` with `at_least`)."""
    if ours is None or floor is None:
        return Check(name, "no valid run of ours and the floor", False)
    mine, base = getattr(ours, metric), getattr(floor, metric)
    if not mine or not base:
        return Check(name, f"N={ours.n:,}: not measured", False)
    ratio = mine / base
    measured = f"N={ours.n:,}: {mine:,.2f} vs {base:,.2f} {unit} = {ratio:.2f}x"
    return Check(name, measured, ratio >= limit if at_least else ratio <= limit)


def _fanout(
    results: Sequence[Result], n: int, metric: str, limit: float, unit: str, layout: str, name: str
) -> Check:
    ours = _find(results, OURS, "fanout", n, nodes=1, layout=layout)
    floor = _find(results, FLOOR, "fanout", n, layout=layout)
    return _vs_floor(name, ours, floor, metric, limit, unit)


def issue5(results: Sequence[Result]) -> list[Check]:
    """Issue 5: one-region fan-out within 1.25x the floor, p99, idle memory, the peers."""
    found: list[Check] = []
    one = "one-region"
    for n in _ns(results, "fanout", (4000, 10000), one):
        name = "CPU per delivery <= 1.25x floor"
        found.append(_fanout(results, n, "cpu_us", 1.25, "us", one, name))
    for n in _ns(results, "fanout", (10000,), one):
        found.append(
            _fanout(results, n, "fanout_ms", 1.25, "ms", one, "fan-out time <= 1.25x floor")
        )
        ours = _find(results, OURS, "fanout", n, nodes=1, layout=one)
        p99 = ours.p99_ms if ours and ours.p99_ms is not None else float("inf")
        found.append(Check("p99 latency < 100 ms", f"N={n:,}: {p99:.1f} ms", p99 < 100))
    for transport, limit in (("sse", 4.0), ("ws", 5.0)):
        idle = [r for r in results if r.target == OURS and r.kind == "idle"]
        idle = [r for r in idle if r.transports == transport and r.ok and r.n <= 10000]
        if idle:
            best = max(idle, key=lambda r: r.n)
            kb = best.kb_per_conn or 0.0
            measured = f"N={best.n:,}: {kb:.2f} KB"
            found.append(Check(f"idle {transport.upper()} <= {limit:g} KB", measured, kb <= limit))
    return found + _peer_checks(results)


def _peer_checks(results: Sequence[Result]) -> list[Check]:
    found = []
    for peer in (*PEERS, NCHAN):
        runs = [r for r in results if r.target == peer and r.kind == "fanout"]
        if not runs:
            continue
        limit = LEVEL if peer == NCHAN else 1.0
        verdicts, notes = [], []
        for run in runs:
            ours = _find(results, OURS, "fanout", run.n, nodes=1, layout=run.layout)
            if not run.ok or ours is None:
                notes.append(f"N={run.n:,}: {'; '.join(run.problems) or 'ours missing'}")
                continue
            for metric in ("cpu_us", "fanout_ms"):
                ratio = getattr(ours, metric) / getattr(run, metric)
                verdicts.append(ratio < limit if limit == 1.0 else ratio <= limit)
                notes.append(f"N={run.n:,} {metric} {ratio:.2f}x")
        for run in (r for r in results if r.target == peer and r.kind == "idle" and r.ok):
            transport = run.transports.replace("sio", "ws")
            ours = _find(results, OURS, "idle", run.n, transports=transport)
            if ours and ours.kb_per_conn and run.kb_per_conn:
                ratio = ours.kb_per_conn / run.kb_per_conn
                verdicts.append(ratio < 1.0 if peer != NCHAN else ratio <= LEVEL)
                notes.append(f"N={run.n:,} KB/conn {ratio:.2f}x")
        what = f"level with {peer}" if peer == NCHAN else f"ahead of {peer}"
        passed = all(verdicts) if verdicts else None
        found.append(Check(what + " (ours / theirs)", ", ".join(notes), passed))
    return found


def _rate(name: str, ours: Result | None, floor: Result | None) -> Check:
    """Connect rates, or rates per server core when a server did not use its core: then the
    load generator, on the same cores, set the pace and the rate is not the server's."""
    if ours is None or floor is None:
        return Check(name, "no valid run of ours and the floor", False)
    if min(ours.server_cores or 0.0, floor.server_cores or 0.0) >= SATURATED:
        return _vs_floor(name, ours, floor, "connects_per_s", CONNECT_RATE, "/s", at_least=True)
    check = _vs_floor(name, ours, floor, "per_server_core", CONNECT_RATE, "/s", at_least=True)
    measured = (
        f"{check.measured} per server core (measured {ours.connects_per_s or 0:,.0f} vs"
        f" {floor.connects_per_s or 0:,.0f}/s, but the servers used {ours.server_cores or 0:.2f}"
        f" and {floor.server_cores or 0:.2f} cores: the load generator set the pace)"
    )
    return Check(name, measured, check.passed)


def _connects(results: Sequence[Result]) -> list[Check]:
    found = []
    for transport in ("sse", "ws"):
        for resume in (False, True):
            how = f"{transport.upper()}, {'resuming' if resume else 'fresh'}"
            match = {"transports": transport, "resume": resume}
            ours = [r for r in results if r.target == OURS and r.kind == "connect" and r.ok]
            mine = next(
                (r for r in ours if all(getattr(r, k) == v for k, v in match.items())), None
            )
            base = _find(results, FLOOR, "connect", mine.n, **match) if mine else None
            found.append(_rate(f"connect rate >= {CONNECT_RATE:g}x floor ({how})", mine, base))
            if resume:
                name = f"server CPU per resuming connect <= {CONNECT_CPU:g}x floor ({transport.upper()})"
                found.append(_vs_floor(name, mine, base, "connect_cpu_us", CONNECT_CPU, "us"))
    return found


def _workers(results: Sequence[Result]) -> list[Check]:
    runs = [r for r in results if r.kind == "workers" and r.target == OURS]
    spread = [r for r in runs if r.workers > 1]
    if not spread:
        return [Check("subscribers across workers", "not run", None)]
    big = max(spread, key=lambda r: (r.n, r.workers))
    where = f"N={big.n:,} across {big.workers} workers"
    found = [
        Check(
            f"{where}: every alert exactly once",
            "; ".join(big.problems) or f"{big.alerts} alerts",
            big.ok,
        )
    ]
    p99 = big.p99_ms if big.p99_ms is not None else float("inf")
    found.append(Check(f"{where}: p99 < 1 s", f"{p99:,.1f} ms", p99 < WORKERS_P99_MS))
    ones = [r for r in runs if r.workers == 1 and r.cpu_us]
    one = max(ones, key=lambda r: r.n) if ones else None
    name = f"{where}: CPU per delivery <= {WORKERS_CPU:g}x one process's"
    if one is None or not one.cpu_us or not big.cpu_us:
        found.append(Check(name, "no single-process run to compare with", False))
    else:
        ratio = big.cpu_us / one.cpu_us
        measured = f"{big.cpu_us:.2f} vs {one.cpu_us:.2f} us (1 worker, N={one.n:,}) = {ratio:.2f}x"
        found.append(Check(name, measured, ratio <= WORKERS_CPU))
    return found


def _idle(results: Sequence[Result]) -> list[Check]:
    found = []
    for transport, limit in IDLE_KB.items():
        idle = [r for r in results if r.target == OURS and r.kind == "idle" and r.ok]
        idle = [r for r in idle if r.transports == transport and r.kb_per_conn is not None]
        name = f"idle {transport.upper()} <= {limit:g} KB per subscriber"
        if not idle:
            found.append(Check(name, "not run", None))
            continue
        best = max(idle, key=lambda r: r.n)
        kb = best.kb_per_conn or 0.0
        found.append(Check(name, f"N={best.n:,}: {kb:.2f} KB", kb <= limit))
    return found


def _ticks(results: Sequence[Result]) -> list[Check]:
    runs = [r for r in results if r.kind == "ticks" and r.target == OURS]
    if not runs:
        return [Check("no loop tick over 20 ms", "not run", None)]
    run = max(runs, key=lambda r: r.n)
    found = []
    for name in LAG_PHASES:
        seen = run.lag.get(name)
        title = f"no loop tick over 20 ms: {name}"
        if seen is None:
            found.append(Check(title, f"N={run.n:,}: not measured", False))
            continue
        measured = f"N={run.n:,}: worst <= {seen.worst_ms:g} ms, {seen.over} of {seen.samples} samples over 20 ms"
        found.append(Check(title, measured, seen.passed and run.ok))
    return found


def issue15(results: Sequence[Result]) -> list[Check]:
    """Issue 15: at the floor for one- and multi-region alerts, connects, workers, memory, ticks."""
    found: list[Check] = []
    for layout in ("one-region", "multi-region"):
        for n in _ns(results, "fanout", (4000, 10000, 18000), layout):
            for metric, unit, what in (
                ("cpu_us", "us", "CPU per delivery"),
                ("fanout_ms", "ms", "fan-out time"),
            ):
                name = f"{layout} {what} <= {AT_FLOOR:g}x floor"
                found.append(_fanout(results, n, metric, AT_FLOOR, unit, layout, name))
    return found + _connects(results) + _workers(results) + _idle(results) + _ticks(results)


def exactly_once(results: Sequence[Result]) -> Check:
    """Every run of ours and the floor delivered exactly once: the one check that fails `make bench`."""
    ours_and_floor = [r for r in results if r.target in (OURS, FLOOR)]
    broken = [f"{r.target} {r.kind} N={r.n}" for r in ours_and_floor if not r.ok]
    return Check(
        "exactly once, every run", "; ".join(broken) or f"{len(ours_and_floor)} runs", not broken
    )


def table(found: Sequence[Check]) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {c.target} | {c.measured} | {c.verdict} |" for c in found]
    return "\n".join(lines) + "\n"
