"""PNG plots for docs/BENCHMARKS.md (matplotlib: the bench extra, installed by `make bench`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.checks import AT_FLOOR, CONNECT_RATE
from bench.lag import LIMIT_S
from bench.report import FLOOR, OURS, floor_of
from bench.scenario import Result


def _save(fig: Any, ax: Any, folder: Path, name: str) -> Path:
    ax.grid(alpha=0.3)
    path = folder / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plots(results: Sequence[Result], folder: Path) -> list[Path]:
    """Every plot the results allow; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for draw in (_series, _at_floor, _connects, _workers, _idle, _lag):
        for name, fig, ax in draw(plt, results):
            written.append(_save(fig, ax, folder, name))
            plt.close(fig)
    return written


_Drawn = list[tuple[str, Any, Any]]


def _series(plt: Any, results: Sequence[Result]) -> _Drawn:
    """Every server's one-region fan-out against N (log scale: the slow peers are 10x off)."""
    fanout = [
        r
        for r in results
        if r.kind == "fanout" and r.layout == "one-region" and r.nodes == 1 and r.ok
    ]
    names = sorted({r.target for r in fanout}, key=lambda t: (t != OURS, t != FLOOR, t))
    drawn = []
    for metric, label in (
        ("cpu_us", "server CPU per delivery (us)"),
        ("fanout_ms", "fan-out time, POST to last matching subscriber (ms)"),
        ("p99_ms", "p99 per-subscriber latency (ms)"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in names:
            series = sorted((r.n, getattr(r, metric)) for r in fanout if r.target == name)
            ax.plot(*zip(*series, strict=True), marker="o", label=name)
        ax.set(xlabel="subscribers (N)", ylabel=label, title=label, yscale="log")
        ax.legend(fontsize=8)
        drawn.append((metric, fig, ax))
    return drawn


def _at_floor(plt: Any, results: Sequence[Result]) -> _Drawn:
    """Ours over the floor against N, one-region and multi-region, with the 1.1x target."""
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = 0
    for layout in ("one-region", "multi-region"):
        ours = [
            r
            for r in results
            if r.target == OURS and r.kind == "fanout" and r.layout == layout and r.nodes == 1
        ]
        for metric, what in (("cpu_us", "CPU per delivery"), ("fanout_ms", "fan-out time")):
            points = []
            for r in sorted(ours, key=lambda r: r.n):
                base = floor_of(results, r)
                if base and getattr(base, metric) and getattr(r, metric):
                    points.append((r.n, getattr(r, metric) / getattr(base, metric)))
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=f"{layout}: {what}")
                lines += 1
    if not lines:
        plt.close(fig)
        return []
    ax.axhline(AT_FLOOR, color="red", linestyle="--", linewidth=1, label=f"target {AT_FLOOR:g}x")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    title = "breaking-push / floor, same run (lower is better)"
    ax.set(xlabel="subscribers (N)", ylabel="ratio to the floor", title=title)
    ax.legend(fontsize=8)
    return [("vs_floor", fig, ax)]


def _connects(plt: Any, results: Sequence[Result]) -> _Drawn:
    """Connect rate and server CPU per connect, ours beside the floor, per transport and resume."""
    runs = [r for r in results if r.kind == "connect" and r.target in (OURS, FLOOR)]
    if not runs:
        return []
    keys = sorted({(r.transports, r.resume) for r in runs})
    labels = [f"{t.upper()}\n{'resuming' if resume else 'fresh'}" for t, resume in keys]
    fig, (rate, cpu) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    for offset, target in ((-width / 2, OURS), (width / 2, FLOOR)):
        by_key = {(r.transports, r.resume): r for r in runs if r.target == target}
        xs = [i + offset for i in range(len(keys))]
        rate.bar(
            xs, [(by_key.get(k) or _EMPTY).connects_per_s or 0 for k in keys], width, label=target
        )
        cpu.bar(
            xs, [(by_key.get(k) or _EMPTY).connect_cpu_us or 0 for k in keys], width, label=target
        )
    for ax, title in ((rate, "connects/s (higher is better)"), (cpu, "server CPU us per connect")):
        ax.set_xticks(range(len(keys)), labels, fontsize=8)
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    rate.set_xlabel(f"target: at least {CONNECT_RATE:g}x the floor's rate")
    return [("connects", fig, cpu)]


_EMPTY = Result("", "", "", "", 0)


def _workers(plt: Any, results: Sequence[Result]) -> _Drawn:
    """The workers' series: fan-out time, p99 and CPU per delivery against workers, per N."""
    runs = [r for r in results if r.kind == "workers" and r.target == OURS and r.ok]
    if not runs:
        return []
    fig, (time_ax, cpu_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for n in sorted({r.n for r in runs}):
        series = sorted((r for r in runs if r.n == n), key=lambda r: r.workers)
        workers = [r.workers for r in series]
        time_ax.plot(workers, [r.fanout_ms for r in series], marker="o", label=f"fan-out, N={n:,}")
        time_ax.plot(
            workers, [r.p99_ms for r in series], marker="x", linestyle=":", label=f"p99, N={n:,}"
        )
        cpu_ax.plot(workers, [r.cpu_us for r in series], marker="o", label=f"N={n:,}")
    time_ax.set(xlabel="workers", ylabel="ms", title="fan-out time and p99 (2 cores)")
    cpu_ax.set(xlabel="workers", ylabel="us", title="CPU per delivery, all workers")
    for ax in (time_ax, cpu_ax):
        ax.set_xticks(sorted({r.workers for r in runs}))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return [("workers", fig, cpu_ax)]


def _idle(plt: Any, results: Sequence[Result]) -> _Drawn:
    idle = [r for r in results if r.kind == "idle" and r.ok]
    if not idle:
        return []
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"{r.target}\n{r.transports}\n{r.n // 1000}k" for r in idle]
    ax.bar(labels, [r.kb_per_conn or 0 for r in idle])
    ax.set(ylabel="KB per idle connection", title="server memory per idle connection")
    ax.tick_params(axis="x", labelsize=6)
    return [("kb_per_conn", fig, ax)]


def _lag(plt: Any, results: Sequence[Result]) -> _Drawn:
    runs = [r for r in results if r.kind == "ticks" and r.lag]
    if not runs:
        return []
    run = max(runs, key=lambda r: r.n)
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(run.lag)
    ax.bar(names, [run.lag[name].worst_ms for name in names])
    ax.axhline(LIMIT_S * 1000, color="red", linestyle="--", linewidth=1, label="20 ms")
    title = f"worst loop lag per phase, N={run.n:,} (upper bound of its bucket)"
    # Log scale: a connect storm's stalls are ten times the others'.
    ax.set(ylabel="ms", title=title, yscale="log")
    ax.legend(fontsize=8)
    return [("loop_lag", fig, ax)]
