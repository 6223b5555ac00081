"""Brokers: where events are stored for resume and published live to every node."""

from __future__ import annotations

from collections.abc import Callable

from service.broker.base import Broker
from service.config import Settings


def make_broker(settings: Settings, on_undecodable: Callable[[], None] = lambda: None) -> Broker:
    """The URL picks the backend; Redis is imported only when it is used.

    `on_undecodable` counts events read back from Redis that this node cannot decode.
    """
    if settings.uses_redis:
        from service.broker.redis import RedisBroker

        return RedisBroker(settings, on_undecodable)
    from service.broker.memory import MemoryBroker

    return MemoryBroker(settings)
