"""Prometheus metrics, one registry per app: nothing is registered at import time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.events import Event
from service.models import SubscriberCensus

Census = Callable[[], SubscriberCensus]


class _Connections(Collector):
    """Open subscriber connections by transport, read from the hub when scraped."""

    def __init__(self, census: Census) -> None:
        self._census = census

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "breaking_connections", "Open subscriber connections.", labels=["transport"]
        )
        for transport, count in self._census().by_transport.items():
            family.add_metric([transport], float(count))
        yield family


class Metrics:
    """The node's counters; the hub reports deliveries once per event, never per subscriber."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.published = Counter(
            "breaking_events_published",
            "Events published through this node.",
            ["type"],
            registry=self.registry,
        )
        self.unreplicated = Counter(
            "breaking_events_unreplicated",
            "Writes stored and published but answered 503: fewer Redis replicas than "
            "BREAKING_REDIS_MIN_REPLICAS_ACK confirmed them in time.",
            registry=self.registry,
        )
        self.received = Counter(
            "breaking_events_received",
            "Events this node received from its broker.",
            registry=self.registry,
        )
        self.delivered_events = Counter(
            "breaking_events_delivered", "Event writes to subscribers.", registry=self.registry
        )
        self.undecodable = Counter(
            "breaking_events_undecodable",
            "Events from the broker this node could not decode and skipped (live, history or listing).",
            registry=self.registry,
        )
        self.slow_disconnects = Counter(
            "breaking_slow_disconnects",
            "Subscribers dropped for falling behind.",
            registry=self.registry,
        )
        self.refused = Counter(
            "breaking_refusals",
            "Requests and connections refused by a limit, by reason (docs/SECURITY.md).",
            ["reason"],
            registry=self.registry,
        )
        self.signin_failures = Counter(
            "breaking_signin_failures",
            "Requests with a missing or unknown editor token.",
            registry=self.registry,
        )
        self.latency = Histogram(
            "breaking_publish_to_write_seconds",
            "From an event's id time to the end of this node's writes for it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # Buckets around the 20 ms a loop tick may take at most (issue 15).
        self.loop_lag = Histogram(
            "breaking_loop_lag_seconds",
            "How late the node's loop-lag probe timer ran: how long a ready callback waited.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )

        self.push_sent = Counter(
            "breaking_push_sent",
            "Web Push messages a push service accepted.",
            registry=self.registry,
        )
        self.push_failed = Counter(
            "breaking_push_failed",
            "Web Push messages given up on, by last HTTP status or transport error.",
            ["status"],
            registry=self.registry,
        )
        self.push_removed = Counter(
            "breaking_push_subscriptions_removed",
            "Push subscriptions dropped because their push service said 404 or 410.",
            registry=self.registry,
        )
        self.push_queue_depth = Gauge(
            "breaking_push_queue_depth",
            "Events waiting for or in Web Push delivery, as last seen by this node.",
            registry=self.registry,
        )
        self.push_latency = Histogram(
            "breaking_push_delivery_seconds",
            "From an event's id time to a push service accepting its push.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )

    def watch(self, census: Census) -> None:
        self.registry.register(_Connections(census))

    def delivered(self, event: Event, count: int) -> None:
        self.received.inc()
        self.delivered_events.inc(count)
        self.latency.observe(max(time.time() - event.key[0] / 1000, 0.0))
