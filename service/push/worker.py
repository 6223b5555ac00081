"""Takes push jobs and delivers each to its matching subscriptions, `concurrency` at a time.

Runs as one task beside the fan-out: the hub never waits for it, and a slow or hanging push
service only holds this node's push lanes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator

from service.metrics import Metrics
from service.push.message import PushMessage, message_for
from service.push.models import PushTarget
from service.push.sender import Outcome, Sender
from service.push.store import Job, PushBackendError, PushQueue, PushStore

log = logging.getLogger("breaking_push.push")

_BACKOFF_MAX_S = 5.0


class Worker:
    """The node's push loop; one job at a time, many pushes of it in flight."""

    def __init__(
        self,
        store: PushStore,
        queue: PushQueue,
        sender: Sender,
        metrics: Metrics,
        *,
        concurrency: int,
        claim_seconds: float,
    ) -> None:
        self._store = store
        self._queue = queue
        self._sender = sender
        self._metrics = metrics
        self._lanes = concurrency
        self._keep_every = claim_seconds / 3
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-worker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        delay = 0.05
        while True:
            try:
                job = await self._queue.next()
                self._metrics.push_queue_depth.set(await self._queue.depth())
                if job is not None:
                    await self._deliver(job)
                delay = 0.05
            except PushBackendError as exc:
                log.warning("push queue unavailable (%s); retrying", exc)
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, _BACKOFF_MAX_S)
            except Exception:
                # The loop is this node's only push worker: it must outlive any bug.
                log.exception("push job failed unexpectedly")
                await asyncio.sleep(_BACKOFF_MAX_S)

    async def _deliver(self, job: Job) -> None:
        targets = [t for t in await self._store.matching(job.event) if t.id not in job.done]
        message = message_for(job.event)
        if targets and message.ttl() > 0:
            keeper = asyncio.create_task(self._keep(job))
            try:
                pending = iter(targets)
                lanes = min(self._lanes, len(targets))
                await asyncio.gather(*(self._lane(job, pending, message) for _ in range(lanes)))
            finally:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
        await self._queue.finish(job)

    async def _keep(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self._keep_every)
            with contextlib.suppress(PushBackendError):
                await self._queue.keep(job)

    async def _lane(self, job: Job, pending: Iterator[PushTarget], message: PushMessage) -> None:
        for target in pending:
            result = await self._sender.send(target, message)
            if result.outcome is Outcome.SENT:
                await self._queue.delivered(job, target.id)
                self._metrics.push_sent.inc()
                self._metrics.push_latency.observe(max(time.time() - job.event.key[0] / 1000, 0.0))
                continue
            self._metrics.push_failed.labels(result.status).inc()
            if result.outcome is Outcome.GONE:
                await self._store.remove(target.endpoint)
                self._metrics.push_removed.inc()
            else:
                # Given up: recorded too, so a node taking the job over does not retry it.
                await self._queue.delivered(job, target.id)
