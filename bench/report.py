"""Markdown tables from run results, each figure beside the floor's from the same run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.scenario import Result

OURS, FLOOR, NCHAN = "breaking-push", "floor", "nchan"

_BEST_LOW = ("fanout_ms", "p50_ms", "p99_ms", "cpu_us", "kb_per_conn", "connect_cpu_us")
_BEST_HIGH = ("per_core", "connects_per_s", "server_cores", "loadgen_cores", "others")


def _config(r: Result) -> tuple[object, ...]:
    return (r.target, r.kind, r.transports, r.broker, r.n, r.nodes, r.workers, r.layout, r.resume)


def combine(results: Sequence[Result]) -> list[Result]:
    """One row per configuration: each figure the best of its rounds (noise only ever adds time
    or CPU), the busiest the machine was, and every round's problems."""
    rows: dict[tuple[object, ...], Result] = {}
    for r in results:
        row = rows.get(_config(r))
        if row is None:
            rows[_config(r)] = Result(**{**vars(r), "problems": [*r.problems], "lag": {**r.lag}})
            continue
        row.rounds += 1
        row.problems += [p for p in r.problems if p not in row.problems]
        for metric, pick in [*((m, min) for m in _BEST_LOW), *((m, max) for m in _BEST_HIGH)]:
            values = [v for v in (getattr(row, metric), getattr(r, metric)) if v is not None]
            setattr(row, metric, pick(values) if values else None)
        for phase, seen in r.lag.items():
            # The worse of the rounds: a long tick seen once is a long tick.
            mine = row.lag.get(phase)
            if mine is None or (seen.over, seen.worst_ms) > (mine.over, mine.worst_ms):
                row.lag[phase] = seen
    return list(rows.values())


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _same_transport(result: Result, transports: str) -> bool:
    # Socket.IO rides on WebSocket: its idle memory compares with the WebSocket floor.
    return transports == result.transports.replace("sio", "ws")


def floor_of(results: Sequence[Result], result: Result) -> Result | None:
    """The floor's run that `result` compares with: same kind, N, layout (and transport, resume)."""
    for other in results:
        same_run = (
            other.target == FLOOR
            and other.kind == result.kind
            and other.n == result.n
            and other.layout == result.layout
            and other.resume == result.resume
        )
        by_transport = result.kind in ("idle", "connect")
        if same_run and (not by_transport or _same_transport(result, other.transports)):
            return other
    return None


def _ratio(results: Sequence[Result], result: Result, metric: str) -> str:
    base = floor_of(results, result)
    value, floor = getattr(result, metric), getattr(base, metric, None) if base else None
    return f"{value / floor:.2f}" if value and floor else "-"


def _one_worker(results: Sequence[Result], result: Result) -> Result | None:
    """The single-process run of the workers' series (the baseline its CPU compares with)."""
    ones = [r for r in results if r.kind == "workers" and r.workers == 1 and r.cpu_us]
    return max(ones, key=lambda r: r.n) if ones else None


def _vs_one(results: Sequence[Result], result: Result) -> str:
    one = _one_worker(results, result)
    return f"{result.cpu_us / one.cpu_us:.2f}" if one and one.cpu_us and result.cpu_us else "-"


def _status(result: Result) -> str:
    return "yes" if result.ok else "; ".join(result.problems)


_Column = tuple[str, Callable[[Sequence[Result], Result], str]]
_COMMON: list[_Column] = [
    ("server", lambda rs, r: r.target),
    ("transports", lambda rs, r: r.transports),
    ("broker", lambda rs, r: r.broker + (f" x{r.nodes} nodes" if r.nodes > 1 else "")),
    ("N", lambda rs, r: f"{r.n:,}"),
    ("rounds", lambda rs, r: str(r.rounds)),
]
_FANOUT: list[_Column] = [
    ("fan-out ms", lambda rs, r: num(r.fanout_ms)),
    ("p50 ms", lambda rs, r: num(r.p50_ms)),
    ("p99 ms", lambda rs, r: num(r.p99_ms)),
    ("CPU us/delivery", lambda rs, r: num(r.cpu_us, 2)),
    ("CPU vs floor", lambda rs, r: _ratio(rs, r, "cpu_us")),
    ("fan-out vs floor", lambda rs, r: _ratio(rs, r, "fanout_ms")),
    ("KB/conn", lambda rs, r: num(r.kb_per_conn)),
]
_OTHERS: _Column = ("others' cores", lambda rs, r: num(r.others, 2))
_Table = tuple[str, Callable[[Result], bool], list[_Column]]
_TABLES: list[_Table] = [
    (
        "Fan-out: one-region alerts, one at a time, half the subscribers match",
        lambda r: r.kind == "fanout" and r.layout == "one-region",
        _FANOUT,
    ),
    (
        "Fan-out: multi-region alerts (2 and 3 regions in turn; subscribers follow 1 to 3 regions;"
        " half match a 2-region alert, 5/8 a 3-region one)",
        lambda r: r.kind == "fanout" and r.layout == "multi-region",
        _FANOUT,
    ),
    (
        "Workers on one machine: `serve --workers W` on a private Redis, every subscriber follows"
        " the alert's region",
        lambda r: r.kind == "workers",
        [
            ("workers", lambda rs, r: str(r.workers)),
            ("fan-out ms", lambda rs, r: num(r.fanout_ms)),
            ("p50 ms", lambda rs, r: num(r.p50_ms)),
            ("p99 ms", lambda rs, r: num(r.p99_ms)),
            ("CPU us/delivery (all workers)", lambda rs, r: num(r.cpu_us, 2)),
            ("vs 1 worker", _vs_one),
            ("descriptors per worker", lambda rs, r: ", ".join(f"{f:,}" for f in r.fds)),
            ("KB/conn", lambda rs, r: num(r.kb_per_conn)),
        ],
    ),
    (
        "Memory per idle connection (server RSS growth / N)",
        lambda r: r.kind == "idle",
        [
            ("KB/conn", lambda rs, r: num(r.kb_per_conn, 2)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "kb_per_conn")),
        ],
    ),
    (
        "Saturation: alerts back to back",
        lambda r: r.kind == "saturation",
        [
            ("deliveries/s per core", lambda rs, r: num(r.per_core, 0)),
            ("CPU us/delivery", lambda rs, r: num(r.cpu_us, 2)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "per_core")),
        ],
    ),
    (
        "Connect rate: N subscribers at once, resuming from a recent event id (3 alerts to"
        " replay) or from nothing",
        lambda r: r.kind == "connect",
        [
            ("resume", lambda rs, r: "yes" if r.resume else "no"),
            ("connects/s", lambda rs, r: num(r.connects_per_s, 0)),
            ("vs floor", lambda rs, r: _ratio(rs, r, "connects_per_s")),
            ("server CPU us/connect", lambda rs, r: num(r.connect_cpu_us, 1)),
            ("CPU vs floor", lambda rs, r: _ratio(rs, r, "connect_cpu_us")),
            ("connects/s per server core", lambda rs, r: num(r.per_server_core, 0)),
            ("server cores", lambda rs, r: num(r.server_cores, 2)),
            ("loadgen cores", lambda rs, r: num(r.loadgen_cores, 2)),
        ],
    ),
]


def _lag_table(results: Sequence[Result]) -> list[str]:
    runs = [r for r in results if r.kind == "ticks"]
    if not runs:
        return []
    out = [
        "### Loop lag: how late the node's 10 ms probe timer ran, per phase\n",
        "| server | N | phase | samples | over 20 ms | worst (bucket bound) ms | exactly once |"
        " others' cores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, seen in r.lag.items():
            out.append(
                f"| {r.target} | {r.n:,} | {name} | {seen.samples} | {seen.over} |"
                f" {seen.worst_ms:g} | {_status(r)} | {num(r.others, 2)} |"
            )
    return [*out, ""]


def tables(results: Sequence[Result]) -> str:
    """One markdown table per kind of run, with an exactly-once column."""
    out = []
    for title, selected, columns in _TABLES:
        rows = [r for r in results if selected(r)]
        if not rows:
            continue
        header = [*_COMMON, *columns, ("exactly once", lambda rs, r: _status(r)), _OTHERS]
        out.append(f"### {title}\n")
        out.append("| " + " | ".join(name for name, _ in header) + " |")
        out.append("|" + "---|" * len(header))
        out += ["| " + " | ".join(cell(results, r) for _, cell in header) + " |" for r in rows]
        out.append("")
    return "\n".join(out + _lag_table(results))
