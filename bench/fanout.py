"""One-shot fan-out: N subscribers over both transports, K alerts, ours beside the floor.

`python -m bench.fanout --n 2000 --alerts 20 [--layout multi-region]` prints fan-out time,
latency and server CPU per delivery for each target, and fails (exit 1) if any alert was lost,
duplicated or leaked.
"""

from __future__ import annotations

import argparse
import sys

from bench import report
from bench.layouts import LAYOUTS
from bench.procs import raise_fd_limit
from bench.scenario import fanout
from bench.targets import TARGETS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="subscribers (half SSE, half WS)")
    parser.add_argument("--alerts", type=int, default=20, help="alerts, one at a time")
    parser.add_argument(
        "--targets", default=f"{report.OURS},{report.FLOOR}", help=", ".join(TARGETS)
    )
    parser.add_argument("--redis", action="store_true", help="ours on a private redis-server")
    parser.add_argument("--layout", default="one-region", choices=sorted(LAYOUTS))
    parser.add_argument("--processes", type=int, help="load generator processes (default: fewest)")
    args = parser.parse_args()
    raise_fd_limit()
    results = [
        fanout(
            TARGETS[name],
            args.n,
            args.alerts,
            layout=LAYOUTS[args.layout],
            redis=args.redis,
            processes=args.processes,
        )
        for name in args.targets.split(",")
    ]
    print(report.tables(results))
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
