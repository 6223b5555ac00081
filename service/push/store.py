"""Where push subscriptions live and where delivery jobs come from: memory or Redis.

The node's live events are offered to the queue without waiting; the worker takes jobs
from it. With Redis a job is a stream entry of a consumer group shared by every node, so
each event is delivered by one node, and a node that dies leaves its job to another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from service.config import Settings
from service.events import Event
from service.push.models import PushTarget


class PushBackendError(Exception):
    """The store or queue cannot be reached right now."""


class PushStore(ABC):
    """The subscriptions: endpoint and keys with their filters, nothing about the reader."""

    @abstractmethod
    async def add(self, target: PushTarget) -> bool:
        """Store or replace by endpoint; True when the endpoint was new."""

    @abstractmethod
    async def remove(self, endpoint: str) -> bool:
        """Forget the endpoint; True when it was stored."""

    @abstractmethod
    async def matching(self, event: Event) -> list[PushTarget]:
        """Every subscription whose filter the event matches."""

    @abstractmethod
    async def close(self) -> None: ...


@dataclass(slots=True)
class Job:
    """One event to push, with the subscriptions an earlier attempt already reached."""

    event: Event
    token: str
    done: set[str] = field(default_factory=set)


class PushQueue(ABC):
    """The events still to push, shared by the cluster where the backend allows it."""

    @abstractmethod
    def offer(self, event: Event) -> None:
        """An event this node heard live; must not wait (it runs on the fan-out path)."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def next(self) -> Job | None:
        """The next job, or None after a short wait with nothing to do."""

    @abstractmethod
    async def delivered(self, job: Job, target_id: str) -> None:
        """Record that one subscription got the job's push, so nobody sends it again."""

    @abstractmethod
    async def keep(self, job: Job) -> None:
        """Still working on the job: no other node may take it over yet."""

    @abstractmethod
    async def finish(self, job: Job) -> None:
        """Every subscription was tried: the job is done."""

    @abstractmethod
    async def depth(self) -> int:
        """Jobs waiting or in progress."""

    @abstractmethod
    async def close(self) -> None: ...


def make_push_backend(settings: Settings) -> tuple[PushStore, PushQueue]:
    """Redis when the node uses Redis, so every node sees the same subscriptions."""
    if settings.uses_redis:
        from service.broker.redis_push import RedisPushQueue, RedisPushStore

        return RedisPushStore(settings), RedisPushQueue(settings)
    from service.broker.memory_push import MemoryPushQueue, MemoryPushStore

    return MemoryPushStore(), MemoryPushQueue()
