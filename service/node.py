"""A node owns its parts: settings, metrics, broker, hub, the subscribers' gateway, the listing's
view and Web Push."""

from __future__ import annotations

import gc

from service.broker import make_broker
from service.config import Settings
from service.events import Event, EventKey
from service.hub import Hub
from service.listing import LiveView
from service.loop_lag import LoopLag
from service.metrics import Metrics
from service.push.component import WebPush
from service.subscribe import Gateway
from service.transports.sse import SSE
from service.transports.ws import WS


class Node:
    """Built without I/O; `start` connects the broker and starts the heartbeat and lag timers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.broker = make_broker(settings, self.metrics.undecodable.inc)
        self.hub = Hub(
            self.metrics,
            (SSE, WS),
            buffer_bytes=settings.subscriber_buffer_bytes,
            replay_cache=settings.replay_cache_size,
        )
        self.gateway = Gateway(settings, self.hub, self.broker)
        self.view = LiveView(self.broker)
        self.push = WebPush(settings, self.metrics)
        self.metrics.watch(self.hub.census)
        self.loop_lag = LoopLag(self.metrics.loop_lag.observe, settings.loop_lag_probe_seconds)
        # Set by the protocol layer that serves the subscribe routes (`breaking-push serve`).
        self.takeover_installed = False

    async def start(self) -> None:
        if not self.takeover_installed:
            raise RuntimeError(
                "the subscribe routes need `breaking-push serve`: it installs the protocol "
                "layer that answers /v1/events and /v1/ws (a plain ASGI server cannot)"
            )
        await self.broker.start(self._on_event, self._on_sync)
        self.hub.start(self.settings.heartbeat_seconds)
        self.loop_lag.start()
        await self.push.start()
        # What is alive now (modules, the app, settings) lives as long as the process: full
        # collections, which a reconnect storm's allocations trigger, need not walk it again.
        gc.freeze()

    def _on_event(self, event: Event) -> None:
        # The fan-out first: the view and the push queue only follow it.
        self.hub.dispatch(event)
        self.view.apply(event)
        self.push.offer(event)

    def _on_sync(self, position: EventKey, lost: bool) -> None:
        self.hub.sync(position, lost)
        # The first subscription, or events lost for good: the view loads afresh either way.
        if lost or not self.view.loaded:
            self.view.reload()

    async def close(self) -> None:
        self.hub.stop()
        self.loop_lag.stop()
        await self.push.close()
        await self.gateway.close()
        await self.view.close()
        await self.broker.close()
