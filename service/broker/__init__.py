"""Brokers: where events are stored for resume and published live to every node."""

from __future__ import annotations

from service.broker.base import Broker
from service.config import Settings


def make_broker(settings: Settings) -> Broker:
    """The URL picks the backend; Redis is imported only when it is used."""
    if settings.redis_url:
        from service.broker.redis import RedisBroker

        return RedisBroker(settings)
    from service.broker.memory import MemoryBroker

    return MemoryBroker(settings)
