"""Soak: a node's Redis link cut or silenced again and again while alerts keep coming.

Bounded: 10 faults of up to 2 s each, about 40 s in all. Run with `make soak`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import httpx
import pytest

from tests.faults.proxy import proxy_to
from tests.faults.verdict import assert_no_silent_gap
from tests.support.clients import publish, sse_subscriber, ws_subscriber
from tests.support.processes import ServiceProcess, readyz_becomes, redis_process, serving

ROUNDS = 10
PING_S = 0.5
# Small enough that a 2 s fault at this rate outruns it, so resets are exercised too.
HISTORY = {"BREAKING_HISTORY_SIZE": "50", "BREAKING_REPLAY_CACHE_SIZE": "0"}


def _peak_rss_mb(node: ServiceProcess) -> float:
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.soak
async def test_repeated_cuts_and_silences_lose_nothing_silently() -> None:
    rng = random.Random(9)
    acknowledged: list[str] = []
    with redis_process() as redis:
        async with (
            serving(redis.url, env=HISTORY) as other,
            proxy_to(redis.port) as proxy,
            serving(proxy.url, env={**HISTORY, "BREAKING_REDIS_PING_SECONDS": str(PING_S)}) as node,
            httpx.AsyncClient() as client,
            contextlib.AsyncExitStack() as stack,
        ):
            subs = [await stack.enter_async_context(sse_subscriber(node)) for _ in range(3)]
            subs += [
                (await stack.enter_async_context(ws_subscriber(node))).received for _ in range(3)
            ]
            stop = asyncio.Event()

            async def keep_publishing() -> None:
                while not stop.is_set():
                    event = await publish(client, other, "soak", (rng.choice(("mena", "asia")),))
                    acknowledged.append(event["id"])
                    await asyncio.sleep(0.01)

            publisher = asyncio.create_task(keep_publishing())
            recoveries = []
            for _ in range(ROUNDS):
                fault = rng.choice((proxy.cut, proxy.hold))
                fault()
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                proxy.resume()
                recoveries.append(await readyz_becomes(node, 200, within=20))
                await asyncio.sleep(rng.uniform(0.2, 1.0))
            stop.set()
            await publisher
            acknowledged.append((await publish(client, other, "last", ("mena",)))["id"])
            for received in subs:
                await received.wait_id(acknowledged[-1], within=15)
            rss = _peak_rss_mb(node)
        print(
            f"{len(acknowledged)} acknowledged over {ROUNDS} faults; recovery after each "
            f"fault ended: max {max(recoveries):.2f} s; node peak RSS {rss:.0f} MB"
        )
        for i, received in enumerate(subs):
            assert_no_silent_gap(acknowledged, received, f"subscriber {i}")
