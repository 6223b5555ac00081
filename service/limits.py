"""Connection caps per node and per client address, and who the client is behind a proxy."""

from __future__ import annotations

import ipaddress
import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import IPvAnyNetwork

from service.config import Settings

log = logging.getLogger("breaking_push.limits")

# Descriptors kept back from the process limit for what is not a client connection: the
# listening socket, Redis, logs, the workers' pipes.
_FD_HEADROOM = 128
# At most one log line per refusal reason in this many seconds; the metric counts every one.
_LOG_EVERY_S = 10.0

# Refusal reasons: the `reason` label of `breaking_refusals_total` and the log lines.
NODE_FULL = "max_connections"
ADDRESS_FULL = "max_connections_per_ip"
NO_SUBSCRIBER_SLOT = "subscriber_slots"
HEAD_TOO_LARGE = "head_too_large"
TOO_MANY_HEADERS = "too_many_headers"
HEAD_TIMEOUT = "head_timeout"
BAD_REQUEST = "bad_request"
SIGNIN_THROTTLED = "signin_throttled"


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").partition("]")[0])
    except ValueError:
        return None


def trusted(address: str | None, proxies: Sequence[IPvAnyNetwork]) -> bool:
    """Whether `address` is one of the operator's proxies (BREAKING_TRUSTED_PROXIES)."""
    if not proxies:
        return False
    ip = _parse_ip(address) if address else None
    return ip is not None and any(ip in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[IPvAnyNetwork]
) -> str | None:
    """The peer, or, when the peer is a trusted proxy, the nearest untrusted X-Forwarded-For hop.

    Hops are read right to left: each trusted proxy appended the address it saw, while
    anything further left came from the client and may be forged.
    """
    if not forwarded_for or not trusted(peer, proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        ip = _parse_ip(hop)
        if ip is None:
            # Not an address: the chain cannot be trusted further than the proxy itself.
            return peer
        if not any(ip in network for network in proxies):
            return str(ip)
    return peer


def default_max_connections() -> int:
    """The descriptor limit less a headroom, so the node refuses before accept() hits EMFILE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(soft - _FD_HEADROOM, 16)


@dataclass(eq=False, slots=True)
class Lease:
    """One open connection's place in the counts; `release()` may be called more than once."""

    limits: ConnectionLimits
    address: str | None
    subscriber: bool = False
    released: bool = False

    def move(self, address: str | None) -> None:
        """Count the connection under the client behind a proxy instead of the proxy."""
        self.limits.uncount(self.address)
        self.address = address
        self.limits.count(address)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.limits.open -= 1
        self.limits.uncount(self.address)
        if self.subscriber:
            self.limits.subscribers -= 1


@dataclass(eq=False)
class ConnectionLimits:
    """Open connections of one node: all of them, per client address, and subscribers.

    Subscribers may take all but `reserve` of the node's connections, so probes, metrics
    and the editors' API still get in when subscribers fill the node.
    """

    total: int
    per_address: int
    reserve: int
    proxies: Sequence[IPvAnyNetwork] = ()
    open: int = 0
    subscribers: int = 0
    _by_address: dict[str | None, int] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        ceiling = default_max_connections()
        total = settings.max_connections or ceiling
        if total > ceiling:
            log.warning(
                "BREAKING_MAX_CONNECTIONS=%d is above what the descriptor limit allows; using %d",
                total,
                ceiling,
            )
            total = ceiling
        return cls(
            total=total,
            per_address=settings.max_connections_per_ip,
            reserve=min(settings.reserved_connections, total - 1),
            proxies=settings.trusted_proxies,
        )

    def admit(self, peer: str | None) -> tuple[Lease, str | None]:
        """A lease for a new connection, and the reason to refuse it, if any.

        A refused connection is counted too: it holds a descriptor until it is answered.
        """
        reason = None
        if self.open >= self.total:
            reason = NODE_FULL
        elif not trusted(peer, self.proxies) and self.address_full(peer):
            reason = ADDRESS_FULL
        self.open += 1
        self.count(peer)
        return Lease(self, peer), reason

    def address_full(self, address: str | None) -> bool:
        return self._by_address.get(address, 0) >= self.per_address

    def take_subscriber_slot(self, lease: Lease) -> bool:
        """Make `lease` a subscriber's, unless subscribers already fill their share."""
        if lease.subscriber:
            return True
        if self.subscribers >= self.total - self.reserve:
            return False
        lease.subscriber = True
        self.subscribers += 1
        return True

    def count(self, address: str | None) -> None:
        self._by_address[address] = self._by_address.get(address, 0) + 1

    def uncount(self, address: str | None) -> None:
        left = self._by_address.get(address, 0) - 1
        if left > 0:
            self._by_address[address] = left
        else:
            self._by_address.pop(address, None)


class RefusalLog:
    """One log line per refusal reason per interval, however many refusals there were."""

    def __init__(self, logger: logging.Logger = log, every_s: float = _LOG_EVERY_S) -> None:
        self._logger = logger
        self._every_s = every_s
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def refused(self, address: str | None, detail: str, reason: str) -> None:
        now = time.monotonic()
        if now < self._next.get(reason, 0.0):
            self._held[reason] = self._held.get(reason, 0) + 1
            return
        self._next[reason] = now + self._every_s
        held = self._held.pop(reason, 0)
        more = f" (and {held} more in the last {self._every_s:g}s)" if held else ""
        self._logger.warning("refused %s: %s [%s]%s", address, detail, reason, more)
