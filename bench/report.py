"""Tables, PASS/FAIL against issue 5's targets, plots and docs/BENCHMARKS.md from run results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.scenario import Result

OURS, FLOOR, NCHAN = "breaking-push", "floor", "nchan"
# Ahead of these on CPU, fan-out time and memory; level (within 10%) with Nchan.
PEERS = ("node-ws", "socket.io", "python-socketio", "broadcaster")
LEVEL = 1.10


@dataclass(frozen=True)
class Check:
    """One target: what was measured and whether it passed (None: not measured in this run)."""

    target: str
    measured: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _same_transport(result: Result, transports: str) -> bool:
    # Socket.IO rides on WebSocket: its idle memory compares with the WebSocket floor.
    return transports == result.transports.replace("sio", "ws")


def _floor(results: Sequence[Result], result: Result) -> Result | None:
    for other in results:
        same_run = other.target == FLOOR and other.kind == result.kind and other.n == result.n
        if same_run and (result.kind != "idle" or _same_transport(result, other.transports)):
            return other
    return None


def _ratio(results: Sequence[Result], result: Result, metric: str) -> str:
    base = _floor(results, result)
    value, floor = getattr(result, metric), getattr(base, metric, None) if base else None
    return f"{value / floor:.2f}" if value and floor else "-"


def _status(result: Result) -> str:
    return "yes" if result.ok else "; ".join(result.problems)


_Column = tuple[str, Callable[[Sequence[Result], Result], str]]
_COMMON: list[_Column] = [
    ("server", lambda rs, r: r.target),
    ("transports", lambda rs, r: r.transports),
    ("broker", lambda rs, r: r.broker + (f" x{r.nodes} nodes" if r.nodes > 1 else "")),
    ("N", lambda rs, r: f"{r.n:,}"),
]
_KINDS: dict[str, tuple[str, list[_Column]]] = {
    "fanout": (
        "Fan-out: one alert at a time, half the subscribers match",
        [
            ("fan-out ms", lambda rs, r: _num(r.fanout_ms)),
            ("p50 ms", lambda rs, r: _num(r.p50_ms)),
            ("p99 ms", lambda rs, r: _num(r.p99_ms)),
            ("CPU us/delivery", lambda rs, r: _num(r.cpu_us, 2)),
            ("CPU vs floor", lambda rs, r: _ratio(rs, r, "cpu_us")),
            ("fan-out vs floor", lambda rs, r: _ratio(rs, r, "fanout_ms")),
            ("KB/conn", lambda rs, r: _num(r.kb_per_conn)),
        ],
    ),
    "idle": (
        "Memory per idle connection (server RSS growth / N)",
        [
            ("KB/conn", lambda rs, r: _num(r.kb_per_conn, 2)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "kb_per_conn")),
        ],
    ),
    "saturation": (
        "Saturation: alerts back to back",
        [
            ("deliveries/s per core", lambda rs, r: _num(r.per_core, 0)),
            ("CPU us/delivery", lambda rs, r: _num(r.cpu_us, 2)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "per_core")),
        ],
    ),
    "connect": (
        "Connect rate: every subscriber resumes from a recent event id",
        [
            ("connects/s", lambda rs, r: _num(r.connects_per_s, 0)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "connects_per_s")),
        ],
    ),
}


def tables(results: Sequence[Result]) -> str:
    """One markdown table per kind of run, with an exactly-once column."""
    out = []
    for kind, (title, columns) in _KINDS.items():
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        header = [*_COMMON, *columns, ("exactly once", lambda rs, r: _status(r))]
        out.append(f"### {title}\n")
        out.append("| " + " | ".join(name for name, _ in header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(cell(results, r) for _, cell in header) + " |" for r in rows]
        out.append("")
    return "\n".join(out)


def _find(
    results: Sequence[Result], target: str, kind: str, n: int, **match: object
) -> Result | None:
    for r in results:
        same_run = r.target == target and r.kind == kind and r.n == n and r.ok
        if same_run and all(getattr(r, key) == value for key, value in match.items()):
            return r
    return None


def _ns(results: Sequence[Result], kind: str, preferred: Sequence[int]) -> list[int]:
    """The N at which ours and the floor both ran: `preferred` ones, else the largest."""
    both = sorted(
        {r.n for r in results if r.kind == kind and r.target == OURS and r.nodes == 1}
        & {r.n for r in results if r.kind == kind and r.target == FLOOR}
    )
    return [n for n in preferred if n in both] or both[-1:]


def _vs(
    name: str, results: Sequence[Result], n: int, metric: str, limit: float, unit: str
) -> Check:
    ours = _find(results, OURS, "fanout", n, nodes=1)
    floor = _find(results, FLOOR, "fanout", n)
    if ours is None or floor is None:
        return Check(name, f"N={n:,}: no valid run of ours and the floor", False)
    mine, base = getattr(ours, metric), getattr(floor, metric)
    ratio = mine / base
    measured = f"N={n:,}: {mine:.2f} vs {base:.2f} {unit} = {ratio:.2f}x"
    return Check(name, measured, ratio <= limit)


def checks(results: Sequence[Result]) -> list[Check]:
    """Issue 5's targets, judged on the runs at hand."""
    found: list[Check] = []
    for n in _ns(results, "fanout", (4000, 10000)):
        found.append(_vs("CPU per delivery <= 1.25x floor", results, n, "cpu_us", 1.25, "us"))
    for n in _ns(results, "fanout", (10000,)):
        found.append(_vs("fan-out time <= 1.25x floor", results, n, "fanout_ms", 1.25, "ms"))
        ours = _find(results, OURS, "fanout", n, nodes=1)
        p99 = ours.p99_ms if ours and ours.p99_ms is not None else float("inf")
        found.append(Check("p99 latency < 100 ms", f"N={n:,}: {p99:.1f} ms", p99 < 100))
    for transport, limit in (("sse", 4.0), ("ws", 5.0)):
        idle = [r for r in results if r.target == OURS and r.kind == "idle"]
        idle = [r for r in idle if r.transports == transport and r.ok]
        if idle:
            best = max(idle, key=lambda r: r.n)
            kb = best.kb_per_conn or 0.0
            measured = f"N={best.n:,}: {kb:.2f} KB"
            found.append(Check(f"idle {transport.upper()} <= {limit:g} KB", measured, kb <= limit))
    found += _peer_checks(results)
    ours_and_floor = [r for r in results if r.target in (OURS, FLOOR)]
    broken = [f"{r.target} {r.kind} N={r.n}" for r in ours_and_floor if not r.ok]
    found.append(
        Check(
            "exactly once, every run",
            "; ".join(broken) or f"{len(ours_and_floor)} runs",
            not broken,
        )
    )
    return found


def _peer_checks(results: Sequence[Result]) -> list[Check]:
    found = []
    for peer in (*PEERS, NCHAN):
        runs = [r for r in results if r.target == peer and r.kind == "fanout"]
        if not runs:
            continue
        limit = LEVEL if peer == NCHAN else 1.0
        verdicts, notes = [], []
        for run in runs:
            ours = _find(results, OURS, "fanout", run.n, nodes=1)
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


def checks_table(found: Sequence[Check]) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {c.target} | {c.measured} | {c.verdict} |" for c in found]
    return "\n".join(lines) + "\n"


def plots(results: Sequence[Result], folder: Path) -> list[Path]:
    """PNG plots of the fan-out series and idle memory; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fanout = [r for r in results if r.kind == "fanout" and r.nodes == 1 and r.ok]
    names = sorted({r.target for r in fanout}, key=lambda t: (t != OURS, t != FLOOR, t))
    for metric, label in (
        ("cpu_us", "server CPU per delivery (us)"),
        ("fanout_ms", "fan-out time, POST to last matching subscriber (ms)"),
        ("p99_ms", "p99 per-subscriber latency (ms)"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in names:
            series = sorted((r.n, getattr(r, metric)) for r in fanout if r.target == name)
            ax.plot(*zip(*series, strict=True), marker="o", label=name)
        # Log scale: the slow peers are 10x off, the rest sit within a few us of each other.
        ax.set(xlabel="subscribers (N)", ylabel=label, title=label, yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        path = folder / f"{metric}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    idle = [r for r in results if r.kind == "idle" and r.ok]
    if idle:
        fig, ax = plt.subplots(figsize=(7, 4))
        labels = [f"{r.target}\n{r.transports}" for r in idle]
        ax.bar(labels, [r.kb_per_conn or 0 for r in idle])
        ax.set(
            ylabel="KB per idle connection",
            title=f"server memory per idle connection (N={idle[0].n:,})",
        )
        ax.tick_params(axis="x", labelsize=7)
        path = folder / "kb_per_conn.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
