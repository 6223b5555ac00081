"""Rounds combine into one row, and a run's dump writes the same report again."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.lag import Phase
from bench.report import combine
from bench.run import load
from bench.scenario import Result


def _round(cpu_us: float, rate: float, over: int, problems: list[str]) -> Result:
    result = Result("floor", "connect", "ws", "-", 100, problems=problems)
    result.cpu_us, result.connects_per_s = cpu_us, rate
    result.lag = {"fan-out": Phase(10, over, 30.0 if over else 10.0)}
    return result


def test_rounds_combine_into_the_best_figures_the_worst_lag_and_every_problem() -> None:
    (row,) = combine([_round(9.0, 100.0, 0, []), _round(8.0, 90.0, 1, ["1 deliveries lost"])])
    assert (row.rounds, row.cpu_us, row.connects_per_s) == (2, 8.0, 100.0)
    assert row.lag["fan-out"] == Phase(10, 1, 30.0)
    assert row.problems == ["1 deliveries lost"]


def test_a_dump_loads_back_as_the_results_it_was_made_from(tmp_path: Path) -> None:
    results = [_round(9.0, 100.0, 1, ["1 deliveries lost"])]
    dump = tmp_path / "full.json"
    dump.write_text(json.dumps([asdict(r) for r in results]))
    assert load(dump) == results
