"""Web Push as one part of a node: built from settings, started and stopped by the lifespan."""

from __future__ import annotations

import logging

from starlette.routing import Route

from service.config import Settings
from service.events import Event
from service.metrics import Metrics
from service.push.keys import VapidKeys
from service.push.routes import PushRoutes
from service.push.sender import Sender
from service.push.store import PushBackendError, PushQueue, PushStore, make_push_backend
from service.push.worker import Worker

log = logging.getLogger("breaking_push.push")


class WebPush:
    """Off (routes answer 404, `offer` does nothing) unless the VAPID key and subject are set."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._keys: VapidKeys | None = None
        self._store: PushStore | None = None
        self._queue: PushQueue | None = None
        self._worker: Worker | None = None
        self._sender: Sender | None = None
        key, subject = settings.vapid_private_key, settings.vapid_subject
        if key is not None and subject:
            self._keys = VapidKeys.load(key.get_secret_value(), subject)
            self._store, self._queue = make_push_backend(settings)
            self._sender = Sender(self._keys, settings.push_concurrency)
            self._worker = Worker(
                self._store,
                self._queue,
                self._sender,
                metrics,
                concurrency=settings.push_concurrency,
                claim_seconds=settings.push_claim_seconds,
            )
        elif key is not None or subject:
            log.warning("Web Push is off: set both BREAKING_VAPID_PRIVATE_KEY and _SUBJECT")
        self._routes = PushRoutes(settings, self._keys, self._store)

    def routes(self) -> list[Route]:
        return self._routes.routes()

    def offer(self, event: Event) -> None:
        """The node's live callback: a queue append at most, never a wait."""
        if self._queue is not None:
            self._queue.offer(event)

    async def start(self) -> None:
        if self._queue is None or self._worker is None or self._sender is None:
            return
        self._sender.start()
        try:
            await self._queue.start()
        except PushBackendError as exc:
            log.warning("push queue not ready yet (%s); the worker keeps trying", exc)
        self._worker.start()

    async def close(self) -> None:
        if self._worker is not None:
            await self._worker.close()
        for part in (self._sender, self._queue, self._store):
            if part is not None:
                await part.close()
