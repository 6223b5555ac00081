"""Push subscriptions and jobs in this process: the embedded broker's one-node counterpart."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from service.events import Event
from service.push.models import PushTarget, target_id
from service.push.store import Job, PushQueue, PushStore

log = logging.getLogger("breaking_push.push")

# Overflow policy: past this many waiting events the oldest is dropped (and logged); a
# backlog that large means the push services are far slower than the newsroom.
_MAX_WAITING = 1024
_IDLE_WAIT_S = 1.0


class MemoryPushStore(PushStore):
    """Subscriptions by id; lost on restart, like the embedded broker's history."""

    def __init__(self) -> None:
        self._targets: dict[str, PushTarget] = {}

    async def add(self, target: PushTarget) -> bool:
        new = target.id not in self._targets
        self._targets[target.id] = target
        return new

    async def remove(self, endpoint: str) -> bool:
        return self._targets.pop(target_id(endpoint), None) is not None

    async def matching(self, event: Event) -> list[PushTarget]:
        return [t for t in self._targets.values() if t.filter.matches(event)]

    async def close(self) -> None:
        self._targets.clear()


class MemoryPushQueue(PushQueue):
    """A bounded queue of this node's live events."""

    def __init__(self) -> None:
        self._waiting: deque[Event] = deque()
        self._arrived = asyncio.Event()
        self._busy = 0

    def offer(self, event: Event) -> None:
        if len(self._waiting) >= _MAX_WAITING:
            dropped = self._waiting.popleft()
            log.warning(
                "push backlog over %d events: event %s not pushed", _MAX_WAITING, dropped.id
            )
        self._waiting.append(event)
        self._arrived.set()

    async def start(self) -> None:
        pass

    async def next(self) -> Job | None:
        if not self._waiting:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), _IDLE_WAIT_S)
            except TimeoutError:
                return None
        event = self._waiting.popleft()
        self._busy += 1
        return Job(event, event.id)

    async def delivered(self, job: Job, target_id: str) -> None:
        job.done.add(target_id)

    async def keep(self, job: Job) -> None:
        pass

    async def finish(self, job: Job) -> None:
        self._busy -= 1

    async def depth(self) -> int:
        return len(self._waiting) + self._busy

    async def close(self) -> None:
        self._waiting.clear()
