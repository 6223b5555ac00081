"""`make bench-quick` / `make bench`: the runs of issue 5, tables, PASS/FAIL, docs/BENCHMARKS.md.

--quick: ours beside the floor at small N (under two minutes). --full: N = 1,000 to 10,000,
the peers, cross-node on a private Redis, plots, and docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import report
from bench.peers.install import install
from bench.scenario import Result, connect_rate, fanout
from bench.targets import TARGETS, Target

DOCS = Path(__file__).parent.parent / "docs"
RESULTS = Path(__file__).parent / "results"
PAUSE = 1.0  # seconds between runs, so a run's closing sockets don't weigh on the next


_Step = tuple[Target, int, Callable[[], Result]]


def _plan(full: bool, names: list[str]) -> Iterator[_Step]:
    """The runs of one mode, in order: (target, N, the run)."""
    ours, floor = TARGETS[report.OURS], TARGETS[report.FLOOR]
    targets: list[Target] = [TARGETS[name] for name in names]
    sizes = (1000, 4000, 5000, 10000) if full else (4000,)
    for n in sizes:
        yield from ((target, n, partial(fanout, target, n, 20)) for target in targets)
    idle_n = 10000 if full else 4000
    for target in targets:
        for transport in target.transports:
            yield target, idle_n, partial(fanout, target, idle_n, 0, transports=[transport])
    saturation_n = 4000 if full else 2000
    for target in targets:
        yield target, saturation_n, partial(fanout, target, saturation_n, 100, burst=True)
    connect_n = 5000 if full else 1000
    yield from ((t, connect_n, partial(connect_rate, t, connect_n)) for t in (ours, floor))
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
        print(
            f"  {result.kind:<10} {result.target:<16} {result.transports:<7} N={result.n:<6}"
            f" {'ok' if result.ok else 'PROBLEM: ' + '; '.join(result.problems)}"
            f" ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        results.append(result)
        time.sleep(PAUSE)
    return results


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def write_docs(results: list[Result], found: list[report.Check], installed: dict[str, str]) -> Path:
    """docs/BENCHMARKS.md with the tables, the verdicts, the plots and how to rerun."""
    plots = report.plots(results, DOCS / "bench")
    failed = {family: error for family, error in installed.items() if error}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} on {_machine()}, with `make bench`",
        "(`.venv/bin/python -m bench.run --full`). `make bench-quick` reruns ours beside the",
        "floor in under two minutes. Each server runs in its own process; the load generator",
        "(`bench/loadgen.py`, raw uvloop protocols, bytes timestamped on arrival and parsed",
        "after the run) runs in another. Half the subscribers follow the alert's region, the",
        "other half spread over the other regions; every run checks that each matching",
        "subscriber got every alert exactly once and that no other subscriber got any.",
        "",
        "- **fan-out ms**: median over the alerts of POST sent -> last matching subscriber read it.",
        "- **CPU us/delivery**: user+system time of the server's process tree over the alerts",
        "  (from /proc schedstat) divided by deliveries; 2 warm-up alerts are left out.",
        "- **floor**: `bench/floor.py`, a raw uvloop server writing one pre-encoded frame per socket.",
        "- Peers run with a private Redis (their recipes); Nchan and ours on in-memory channels",
        "  unless the broker column says redis. The loadgen shares the machine's cores with the server.",
        "",
        "## Targets (issue 5)",
        "",
        report.checks_table(found),
        "## Results",
        "",
        report.tables(results),
    ]
    if failed:
        lines += ["Peers that failed to install:", ""]
        lines += [f"- {family}: `{error.strip()[:200]}`" for family, error in failed.items()]
        lines.append("")
    lines += ["## Plots", ""]
    lines += [f"![{path.stem}](bench/{path.name})" for path in plots]
    page = DOCS / "BENCHMARKS.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="ours beside the floor, small N")
    mode.add_argument("--full", action="store_true", help="every run, peers, docs/BENCHMARKS.md")
    parser.add_argument("--targets", help="comma-separated subset of: " + ", ".join(TARGETS))
    args = parser.parse_args()
    names = args.targets.split(",") if args.targets else None
    installed: dict[str, str] = {}
    if args.full and names is None:
        print("installing peers ...", flush=True)
        installed = install()
        names = list(TARGETS)
    names = names or [report.OURS, report.FLOOR]
    print(f"{'full' if args.full else 'quick'} run of {', '.join(names)}", flush=True)
    results = run(args.full, names)
    found = report.checks(results)
    print()
    print(report.tables(results))
    print(report.checks_table(found))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    dump = RESULTS / f"{'full' if args.full else 'quick'}-{stamp}.json"
    dump.write_text(json.dumps([asdict(r) for r in results], indent=1))
    if args.full:
        print(f"wrote {write_docs(results, found, installed)}")
    # Speed targets are printed as PASS/FAIL; only a delivery failure fails the command.
    return 0 if found[-1].passed else 1


if __name__ == "__main__":
    sys.exit(main())
