"""Admitting a connection: the node's and each address's caps, the head's bounds, the hand-off.

Shared by the two protocols a connection can be spoken by (docs/SECURITY.md): the front
(service/front.py), which every connection starts with and which serves a first request to
the subscribe routes itself, and uvicorn's protocol (service/takeover.py), which serves the
ASGI routes and a subscribe request that follows one on a keep-alive connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from service import limits
from service.limits import ConnectionLimits, Lease, RefusalLog
from service.node import Node
from service.problems import Problem
from service.subscribe import SubscribeRequest
from service.transports.http import problem_response
from service.transports.subscriber import SubscriberProtocol

# A refused connection is answered once its head is read (closing with an unread request
# makes the kernel reset the connection, and the client never sees the answer), but
# waits no longer than this for it: the descriptor is what the cap protects.
REFUSAL_LINGER_S = 1.0
_RETRY_AFTER = {"retry-after": "5"}

PIPELINED = Problem(
    400,
    "nothing may follow a subscribe request on its connection: the response never ends",
)
BAD_HEAD = Problem(400, "invalid HTTP request: it could not be parsed")


class Refused(Exception):
    """Raised from an httptools callback: the parser stops, and `refusal` says why."""


class Admission:
    """A connection's lease in the caps, its head's deadline and bounds, and its refusal."""

    # Bound per node by takeover_protocol() (service/takeover.py), shared by every connection.
    node: Node
    limits: ConnectionLimits
    refusals: RefusalLog

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _lease: Lease | None
    _peer: str | None
    # Why this connection is refused, answered when its head is read (or the linger ends).
    _refusal: tuple[str, Problem] | None
    _head_timer: asyncio.TimerHandle | None
    _header_count: int

    def _admit(self, peer: str | None) -> None:
        """Take the connection's place in the caps and start its head's clock."""
        self._peer = peer
        self._lease, reason = self.limits.admit(peer)
        if reason == limits.NODE_FULL:
            self._refusal = (
                reason,
                Problem(
                    503,
                    "this node is at its connection limit (BREAKING_MAX_CONNECTIONS); retry shortly",
                    headers=_RETRY_AFTER,
                ),
            )
        elif reason == limits.ADDRESS_FULL:
            self._refusal = (reason, self._address_full())
        linger = self.node.settings.head_timeout_seconds
        self._arm_head_timer(min(linger, REFUSAL_LINGER_S) if self._refusal else linger)

    def _address_full(self) -> Problem:
        return Problem(
            429,
            "too many connections from your address (BREAKING_MAX_CONNECTIONS_PER_IP); "
            "close some or retry shortly",
            headers=_RETRY_AFTER,
        )

    def _release(self) -> None:
        self._cancel_head_timer()
        if self._lease is not None:
            self._lease.release()

    def _refuse(self, reason: str, problem: Problem) -> None:
        """Answer `problem` and close: the one way the HTTP layer turns a client away."""
        self._cancel_head_timer()
        self.node.metrics.refused.labels(reason).inc()
        address = self._lease.address if self._lease is not None else self._peer
        self.refusals.refused(address, problem.detail, reason)
        if not self.transport.is_closing():
            self.transport.write(problem_response(problem))
            self.transport.close()

    def _answer_and_close(self, problem: Problem) -> None:
        """A bad subscribe request: answered, not counted as a refusal of the caps."""
        self._cancel_head_timer()
        self.transport.write(problem_response(problem))
        self.transport.close()

    # -- the request head: bounded in size, field count and time (slowloris) -----------------

    def _arm_head_timer(self, delay: float) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(delay, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._refusal is not None:
            self._refuse(*self._refusal)
            return
        timeout = self.node.settings.head_timeout_seconds
        self._refuse(
            limits.HEAD_TIMEOUT,
            Problem(408, f"the request head did not arrive within {timeout:g}s"),
        )

    def _head_too_large(self) -> Problem:
        limit = self.node.settings.max_header_bytes
        return Problem(431, f"the request head is over {limit} bytes (BREAKING_MAX_HEADER_BYTES)")

    def _head_limit(self, reason: str, problem: Problem) -> None:
        """Refuse from inside a parser callback (raising stops the parser mid-request)."""
        self._refusal = (reason, problem)
        raise Refused

    def _count_header(self) -> None:
        self._header_count += 1
        if self._header_count > self.node.settings.max_headers:
            self._head_limit(limits.TOO_MANY_HEADERS, self._too_many_headers())

    def _too_many_headers(self) -> Problem:
        limit = self.node.settings.max_headers
        return Problem(
            431, f"the request has more than {limit} header fields (BREAKING_MAX_HEADERS)"
        )

    # -- after the head -----------------------------------------------------------------------

    def _admit_client(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Behind a trusted proxy, count the connection under the client it carries."""
        lease = self._lease
        if lease is None or self._refusal is not None or not self.limits.proxies:
            return
        forwarded = next((v for k, v in headers if k == b"x-forwarded-for"), None)
        address = limits.client_address(
            self._peer, forwarded.decode("latin-1") if forwarded else None, self.limits.proxies
        )
        if address == lease.address:
            return
        full = self.limits.address_full(address)
        lease.move(address)
        if full:
            self._refusal = (limits.ADDRESS_FULL, self._address_full())

    def _subscribe(self, request: SubscribeRequest, connections: set[Any]) -> bool:
        """Hand the connection to the gateway; False if subscribers already fill the node."""
        assert self._lease is not None
        if not self.limits.take_subscriber_slot(self._lease):
            self._refuse(
                limits.NO_SUBSCRIBER_SLOT,
                Problem(
                    503,
                    "this node has no room for more subscribers; retry shortly",
                    headers=_RETRY_AFTER,
                ),
            )
            return False
        self._cancel_head_timer()
        self.node.gateway.accept(request, self.transport, connections)
        subscriber = self.transport.get_protocol()
        if isinstance(subscriber, SubscriberProtocol):
            # This protocol never hears of the connection again: its subscriber releases it.
            subscriber.on_close = self._lease.release
            self._lease = None
        return True
