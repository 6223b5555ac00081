"""Editors publishing steadily through a failover, and what their answers tell."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from service.events import parse_id
from tests.support.processes import EDITOR_TOKEN, ServiceProcess

BODY = {"headline": "failover", "regions": ["mena"], "language": "en"}
# Each editor's pause between requests, and how long it keeps retrying one alert.
_PAUSE_S = 0.05
_GIVE_UP_S = 30.0


@dataclass
class Editor:
    """Publishes steadily through one node, each alert under an Idempotency-Key that it
    retries until a 201, as the 503's detail asks. Keeps every 201 with when it was asked."""

    node: ServiceProcess
    acknowledged: list[tuple[str, float, float]] = field(default_factory=list)
    unreplicated: int = 0
    unavailable: int = 0
    unanswered: int = 0
    answered: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def ids(self) -> list[str]:
        return [event_id for event_id, _, _ in self.acknowledged]

    @property
    def failed(self) -> int:
        return self.unreplicated + self.unavailable + self.unanswered

    async def acknowledged_after(self, moment: float) -> None:
        """Wait for a 201 to a request made after `moment`."""
        async with self.answered:
            await self.answered.wait_for(
                lambda: any(asked > moment for _, asked, _ in self.acknowledged)
            )

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=3) as client:
            while not stop.is_set():
                await self.publish(client, stop)
                await asyncio.sleep(_PAUSE_S)

    async def publish(self, client: httpx.AsyncClient, stop: asyncio.Event) -> str | None:
        """One alert, retried under its key until a 201; its id, or None if given up."""
        headers = {"Authorization": f"Bearer {EDITOR_TOKEN}", "Idempotency-Key": uuid.uuid4().hex}
        giving_up = time.monotonic() + _GIVE_UP_S
        while not stop.is_set() and time.monotonic() < giving_up:
            if await self._attempt(client, headers):
                return self.acknowledged[-1][0]
            await asyncio.sleep(_PAUSE_S)
        return None

    async def _attempt(self, client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
        asked = time.monotonic()
        try:
            response = await client.post(f"{self.node.url}/v1/alerts", json=BODY, headers=headers)
        except httpx.HTTPError:
            self.unanswered += 1
            return False
        if response.status_code == 201:
            async with self.answered:
                self.acknowledged.append((response.json()["id"], asked, time.monotonic()))
                self.answered.notify_all()
            return True
        assert response.status_code == 503, response.text
        if "replicas" in response.json()["detail"]:
            self.unreplicated += 1
        else:
            self.unavailable += 1
        return False


@contextlib.asynccontextmanager
async def editing(*nodes: ServiceProcess) -> AsyncIterator[list[Editor]]:
    editors = [Editor(node) for node in nodes]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(editor.run(stop)) for editor in editors]
    try:
        yield editors
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def until_acknowledged_after(editors: list[Editor], moment: float) -> None:
    """Wait until every editor has a 201 for a request it made after `moment`."""
    async with asyncio.timeout(45):
        for editor in editors:
            await editor.acknowledged_after(moment)


def by_id(ids: list[str]) -> list[str]:
    return sorted(ids, key=parse_id)


def failover_time(editors: list[Editor], struck_at: float) -> tuple[float, float]:
    """Seconds from the last 201 answered before the fault to the first 201 for a request
    made after it, and the longest time with no 201 at all from the fault on."""
    answers = sorted((answered, asked) for e in editors for _, asked, answered in e.acknowledged)
    last_before = max(answered for answered, _ in answers if answered <= struck_at)
    first_after = min(answered for answered, asked in answers if asked >= struck_at)
    times = [last_before] + [answered for answered, _ in answers if answered > struck_at]
    longest = max(later - earlier for earlier, later in itertools.pairwise(times))
    return first_after - last_before, longest
