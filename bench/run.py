"""`make bench-quick` / `make bench`: the runs of issues 5 and 15, tables, PASS/FAIL, docs/BENCHMARKS.md.

--quick: ours beside the floor at small N, every kind of run once (a few minutes). --full:
N = 1,000 to 18,000 per process, 50,000 across three workers, the peers, plots, and
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType

from bench import checks, report
from bench.lag import Phase
from bench.layouts import MULTI_REGION, ONE_REGION
from bench.machine import describe
from bench.peers.install import install
from bench.plots import plots
from bench.procs import raise_fd_limit
from bench.scenario import Result, across_workers, connect_rate, fanout, ticks
from bench.targets import TARGETS, Target

DOCS = Path(__file__).parent.parent / "docs"
RESULTS = Path(__file__).parent / "results"
PAUSE = 1.0  # seconds between runs, so a run's closing sockets don't weigh on the next
ROUNDS = 3


_Step = tuple[Target, int, Callable[[], Result]]


def _plan(full: bool, names: list[str]) -> Iterator[_Step]:
    """The runs of one mode, in order: (target, N, the run)."""
    ours, floor = TARGETS[report.OURS], TARGETS[report.FLOOR]
    targets = [TARGETS[name] for name in names]
    pair = [t for t in (ours, floor) if t.name in names]
    peers = [t for t in targets if t not in pair]
    # Issue 15's ratios to the floor: ours and the floor alternate, each figure the best of
    # `rounds` (another engineer's tests only ever add time). Two were too few here: the same
    # code, each side the best of two, measured 1.26x and 1.78x the floor's CPU per resuming
    # WebSocket connect in two runs minutes apart.
    rounds = ROUNDS if full else 1
    at_floor = (4000, 10000, 18000) if full else (2000,)
    for n in (1000, 4000, 5000, 10000) if full else ():
        yield from ((t, n, partial(fanout, t, n, 20)) for t in peers)
        if n not in at_floor:
            yield from ((t, n, partial(fanout, t, n, 20)) for t in pair)
    for layout in (ONE_REGION, MULTI_REGION):
        for n in at_floor:
            for _ in range(rounds):
                yield from ((t, n, partial(fanout, t, n, 20, layout=layout)) for t in pair)
    idle = (
        [(t, 10000) for t in targets] + [(t, 18000) for t in pair]
        if full
        else [(t, 2000) for t in pair]
    )
    for target, n in idle:
        for transport in target.transports:
            yield target, n, partial(fanout, target, n, 0, transports=[transport])
    saturation_n = 4000 if full else 2000
    yield from (
        (t, saturation_n, partial(fanout, t, saturation_n, 100, burst=True)) for t in targets
    )
    connect_n = 10000 if full else 2000
    for _ in range(rounds):
        for transport in ("sse", "ws"):
            for resume in (False, True):
                for t in pair:
                    yield t, connect_n, partial(connect_rate, t, connect_n, transport, resume)
    if ours not in pair:
        return
    spread = [(1, 18000), (2, 18000), (3, 18000), (3, 50000)] if full else [(1, 2000), (2, 2000)]
    for workers, n in spread:
        yield ours, n, partial(across_workers, ours, n, 20, workers)
    tick_n = 18000 if full else 2000
    yield ours, tick_n, partial(ticks, ours, tick_n, 10, MULTI_REGION, 3.0 if full else 1.0)
    for n in (4000, 10000) if full else (2000,):
        yield ours, n, partial(fanout, ours, n, 20, nodes=2, redis=True)
    if full:
        yield ours, 10000, partial(fanout, ours, 10000, 20, redis=True)


def run(full: bool, names: list[str]) -> list[Result]:
    results = []
    for target, n, step in _plan(full, names):
        started = time.monotonic()
        try:
            result = step()
        except Exception as exc:  # one broken target is a row in the table, not a lost run
            result = Result(target.name, "crashed", "-", "-", n, problems=[repr(exc)[:300]])
        what = result.layout if result.kind == "fanout" else ""
        what += f" resume={result.resume}" if result.kind == "connect" else ""
        what += f" workers={result.workers}" if result.workers > 1 else ""
        print(
            f"  {result.kind:<10} {result.target:<16} {result.transports:<7} N={result.n:<6}"
            f" {what} {'ok' if result.ok else 'PROBLEM: ' + '; '.join(result.problems)}"
            f" ({time.monotonic() - started:.0f} s, others {report.num(result.others, 2)} cores)",
            flush=True,
        )
        results.append(result)
        time.sleep(PAUSE)
    return results


def calm(results: list[Result]) -> str:
    """How busy other processes kept the machine while the runs were measured."""
    seen = [r.others for r in results if r.others is not None]
    if not seen:
        return "not measured"
    return (
        f"other processes used {statistics.mean(seen):.2f} of the {os.cpu_count()} cores on"
        f" average during the runs (median {statistics.median(seen):.2f}, busiest run"
        f" {max(seen):.2f})"
    )


def write_docs(
    raw: list[Result],
    found: dict[str, list[checks.Check]],
    installed: dict[str, str],
    measured: datetime,
) -> Path:
    """docs/BENCHMARKS.md with the tables, the verdicts, the plots and how to rerun."""
    results = report.combine(raw)
    drawn = plots(results, DOCS / "bench")
    failed = {family: error for family, error in installed.items() if error}
    now = measured.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} on {describe()}, with `make bench`",
        "(`.venv/bin/python -m bench.run --full`; `--report bench/results/<dump>.json` writes this",
        "page again from a run's figures). `make bench-quick` reruns ours beside the",
        "floor at small N in a few minutes. Each server runs in its own process; the load",
        "generator (`bench/loadgen.py`, raw uvloop protocols, bytes timestamped on arrival and",
        "parsed after the run) in others, connecting from 127.0.0.1 up to 20,000 subscribers",
        "and past that from 127.0.0.2, 127.0.0.3, ... (each with ephemeral ports of its own,",
        "left to connect() by IP_BIND_ADDRESS_NO_PORT). Every bench process lifts its",
        "descriptor limit to the hard limit. Every run checks that each subscriber got every",
        "alert it matches exactly once (a subscriber following two regions of a two-region",
        "alert, once) and no other; WebSocket accept keys are checked on every handshake.",
        "",
        f"**How calm the machine was**: {calm(raw)}. The machine is shared, so the",
        "figures to trust are the ratios within one run: ours and the floor alternate, and for",
        f"the issue 15 ratios each figure is the best of {ROUNDS} rounds (the rounds column).",
        "The last column of every table is the cores others used during that run.",
        "",
        "- **fan-out ms**: median over the alerts of POST sent -> last matching subscriber read it.",
        "- **CPU us/delivery**: user+system time of the server's process tree over the alerts",
        "  (from /proc schedstat) divided by deliveries; 2 warm-up alerts are left out.",
        "- **floor**: `bench/floor.py`, a raw uvloop server writing one pre-encoded frame per",
        "  matching socket; each subscriber filed under the one set of regions it follows, so a",
        "  multi-region alert walks the matching sets and writes once per subscriber, no copy.",
        "- **connect**: server CPU per connect is its CPU from the first connect until the",
        "  storm is over, over the subscribers; server and loadgen cores show which side set",
        "  the pace (one core is all a single process can use). The load generator spends more",
        "  per connect than the floor does and shares its two cores, so the floor's measured",
        "  rate is the load generator's: where a server used under 0.8 of its core, the rate",
        "  target compares connects per server core (1 s / CPU per connect) instead.",
        "- **loop lag**: `breaking_loop_lag_seconds`, the node's probe timer (every 10 ms in",
        "  that run, 250 ms by default and in every other run), scraped from /metrics before",
        "  and after each phase. A tick is at least the lag and at most the lag plus 10 ms; on",
        "  a shared machine the lag also counts time the OS gave the core to someone else.",
        "- Peers run with a private Redis (their recipes); Nchan and ours on in-memory channels",
        "  unless the broker column says redis. The loadgen shares the machine's cores with the server.",
        "",
        "## Targets (issue 15)",
        "",
        checks.table(found["15"]),
        "## Targets (issue 5)",
        "",
        checks.table(found["5"]),
        "## Results",
        "",
        report.tables(results),
    ]
    if failed:
        lines += ["Peers that failed to install:", ""]
        lines += [f"- {family}: `{error.strip()[:200]}`" for family, error in failed.items()]
        lines.append("")
    lines += ["## Plots", ""]
    lines += [f"![{path.stem}](bench/{path.name})" for path in drawn]
    page = DOCS / "BENCHMARKS.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def _stop(signum: int, frame: FrameType | None) -> None:
    # As SIGINT does: unwind, so every `finally` ends the servers and load generators it started.
    raise SystemExit(128 + signum)


def load(path: Path) -> list[Result]:
    """The results an earlier run dumped (bench/results/), to write its report again."""
    rows = json.loads(path.read_text())
    for row in rows:
        row["lag"] = {name: Phase(**seen) for name, seen in row["lag"].items()}
    return [Result(**row) for row in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="ours beside the floor, small N")
    mode.add_argument("--full", action="store_true", help="every run, peers, docs/BENCHMARKS.md")
    mode.add_argument(
        "--report", type=Path, metavar="JSON", help="docs/BENCHMARKS.md again from a run's dump"
    )
    parser.add_argument("--targets", help="comma-separated subset of: " + ", ".join(TARGETS))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    installed: dict[str, str] = {}
    if args.report:
        raw = load(args.report)
        measured = datetime.fromtimestamp(args.report.stat().st_mtime, UTC)
    else:
        print(f"descriptor limit {raise_fd_limit()}", flush=True)
        names = args.targets.split(",") if args.targets else None
        if args.full and names is None:
            print("installing peers ...", flush=True)
            installed = install()
            names = list(TARGETS)
        names = names or [report.OURS, report.FLOOR]
        print(f"{'full' if args.full else 'quick'} run of {', '.join(names)}", flush=True)
        raw = run(args.full, names)
        measured = datetime.now(UTC)
        RESULTS.mkdir(exist_ok=True)
        stamp = measured.strftime("%Y%m%dT%H%M%S")
        dump = RESULTS / f"{'full' if args.full else 'quick'}-{stamp}.json"
        dump.write_text(json.dumps([asdict(r) for r in raw], indent=1))
    results = report.combine(raw)
    found = {"15": checks.issue15(results), "5": checks.issue5(results)}
    found["5"].append(checks.exactly_once(raw))
    print()
    print(report.tables(results))
    print(f"How calm: {calm(raw)}\n")
    print("Issue 15\n" + checks.table(found["15"]))
    print("Issue 5\n" + checks.table(found["5"]))
    if not args.quick:
        print(f"wrote {write_docs(raw, found, installed, measured)}")
    # Speed targets are printed as PASS/FAIL; only a delivery failure fails the command.
    return 0 if found["5"][-1].passed else 1


if __name__ == "__main__":
    sys.exit(main())
