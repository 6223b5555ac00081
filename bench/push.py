"""Web Push delivery for N subscriptions against the local push service, on loopback only.

    .venv/bin/python -m bench.push [--subscriptions 10000] [--concurrency 64] [--redis]

Starts one node (memory broker, or a private redis-server with --redis) with push on,
subscribes N browsers through the API, publishes one flash alert and reports the time
until the push service accepted the last push, the node's CPU for it, and any failure
(refused VAPID, undecryptable payload, missing or duplicate push). Bounded: N at most
20,000 and two minutes of waiting; everything it starts is ended by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator

import aiohttp
import httpx

from bench.procs import tree_usage
from tests.push.conftest import VAPID_PUBLIC, push_env
from tests.push.pushservice import PushService, push_service
from tests.support.processes import ServiceProcess, redis_process, service_process

_MAX_SUBSCRIPTIONS = 20_000
_WAIT_S = 120.0


@contextlib.contextmanager
def _node(concurrency: int, redis: bool) -> Iterator[ServiceProcess]:
    env = push_env(BREAKING_PUSH_CONCURRENCY=str(concurrency), BREAKING_LOG_LEVEL="warning")
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_process()).url if redis else None
        yield stack.enter_context(service_process(url, env=env))


async def _subscribe(node: ServiceProcess, pushes: PushService, count: int) -> None:
    """Subscribe through the real route, 16 requests at a time."""
    names = iter(range(count))
    async with aiohttp.ClientSession(raise_for_status=True) as client:

        async def lane() -> None:
            for i in names:
                body = {"subscription": pushes.browser(f"b{i}").subscription(), "regions": ["mena"]}
                async with client.post(f"{node.url}/v1/push/subscriptions", json=body) as response:
                    await response.read()

        await asyncio.gather(*(lane() for _ in range(16)))


async def run(count: int, concurrency: int, redis: bool) -> dict[str, float | int | str]:
    with _node(concurrency, redis) as node:
        assert node.proc is not None
        async with push_service(VAPID_PUBLIC) as pushes:
            started = time.monotonic()
            await _subscribe(node, pushes, count)
            subscribe_s = time.monotonic() - started
            before = tree_usage(node.proc.pid)
            service_before = time.process_time()
            async with httpx.AsyncClient(timeout=10) as client:
                sent = time.monotonic()
                response = await client.post(
                    f"{node.url}/v1/alerts",
                    json={
                        "headline": "Bench",
                        "regions": ["mena"],
                        "language": "en",
                        "priority": "flash",
                    },
                    headers={"Authorization": f"Bearer {node.token}"},
                )
                response.raise_for_status()
            with contextlib.suppress(TimeoutError):
                await pushes.wait(lambda: len(pushes.accepted) >= count, within=_WAIT_S)
            cpu = (tree_usage(node.proc.pid) - before).cpu
            service_cpu = time.process_time() - service_before
            latencies = sorted(p.at - sent for p in pushes.accepted)
            names = [p.endpoint for p in pushes.accepted]
            return {
                "broker": "redis" if redis else "memory",
                "subscriptions": count,
                "concurrency": concurrency,
                "subscribe_s": round(subscribe_s, 1),
                "deliver_s": round(latencies[-1], 2) if latencies else -1,
                "p50_s": round(statistics.median(latencies), 2) if latencies else -1,
                "node_cpu_s": round(cpu, 2),
                "cpu_us_per_push": round(cpu / max(len(latencies), 1) * 1e6),
                "push_service_cpu_s": round(service_cpu, 2),
                "accepted": len(latencies),
                "missing": count - len(set(names)),
                "duplicates": len(names) - len(set(names)),
                "refused": len(pushes.refused),
            }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--redis", action="store_true", help="a private redis-server as broker")
    args = parser.parse_args()
    count = min(args.subscriptions, _MAX_SUBSCRIPTIONS)
    result = asyncio.run(run(count, args.concurrency, args.redis))
    print(" | ".join(f"{k}={v}" for k, v in result.items()))
    failed = result["missing"] or result["duplicates"] or result["refused"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
