"""uvicorn's httptools protocol, taking over the subscribe routes below ASGI on the same port.

Every other route stays ASGI. A subscribe request is parsed by httptools as usual; once its
head is complete, and no earlier request on the connection is still being answered, the
connection is handed to the gateway, which turns it into an SSE or WebSocket subscriber
protocol object: a subscriber costs that object and its transport instead of an ASGI task.

It is also where every connection is admitted (docs/SECURITY.md): the node's and each
address's connection caps, the request head's size, field count and deadline. uvicorn's
httptools protocol has none of these (its h11 limits do not apply here), and every answer
written at this layer is problem+json, never uvicorn's plain-text 400.

This extends uvicorn's private interface: uvicorn and httptools are pinned, and
tests/integration/test_takeover.py checks the versions and every private name used here.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service import limits
from service.limits import ConnectionLimits, Lease, RefusalLog
from service.node import Node
from service.problems import Problem
from service.subscribe import SUBSCRIBE_PATHS, SubscribeRequest
from service.transports.http import problem_response
from service.transports.subscriber import SubscriberProtocol

# A refused connection is answered once its head is read (closing with an unread request
# makes the kernel reset the connection, and the client never sees the answer), but
# waits no longer than this for it: the descriptor is what the cap protects.
_REFUSAL_LINGER_S = 1.0
_RETRY_AFTER = {"retry-after": "5"}
_NO_WEBSOCKET = Problem(404, "no WebSocket here: subscribers use /v1/ws")

_PIPELINED = Problem(
    400,
    "nothing may follow a subscribe request on its connection: the response never ends",
)


class _Refused(Exception):
    """Raised from a parser callback: httptools stops parsing, uvicorn calls send_400_response."""


class TakeoverProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that admits connections and hands the subscribe routes to the gateway."""

    # Bound by takeover_protocol(): one set per node, shared by all its connections.
    node: Node
    limits: ConnectionLimits
    refusals: RefusalLog

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._takeover: SubscribeRequest | None = None
        self._pipelined = False
        self._lease: Lease | None = None
        self._peer: str | None = None
        # Why this connection is refused, answered when its head is read (or the linger ends).
        self._refusal: tuple[str, Problem] | None = None
        self._in_head = False
        self._head_bytes = 0
        self._head_wire = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # -- admission ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer = self.client[0] if self.client else None
        self._lease, reason = self.limits.admit(self._peer)
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
        self._arm_head_timer(min(linger, _REFUSAL_LINGER_S) if self._refusal else linger)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._cancel_head_timer()
        if self._lease is not None:
            self._lease.release()

    def _address_full(self) -> Problem:
        return Problem(
            429,
            "too many connections from your address (BREAKING_MAX_CONNECTIONS_PER_IP); "
            "close some or retry shortly",
            headers=_RETRY_AFTER,
        )

    def _refuse(self, reason: str, problem: Problem) -> None:
        """Answer `problem` and close: the one way this layer turns a client away."""
        self._cancel_head_timer()
        self.node.metrics.refused.labels(reason).inc()
        self.refusals.refused(self._client_address(), problem.detail, reason)
        self._takeover = None
        if not self.transport.is_closing():
            self.transport.write(problem_response(problem))
            self.transport.close()

    def _client_address(self) -> str | None:
        return self._lease.address if self._lease is not None else self._peer

    def send_400_response(self, msg: str) -> None:
        # uvicorn writes text/plain here; every answer of the node is problem+json. A parser
        # callback that refused the request (_Refused) left its reason in _refusal.
        reason, problem = self._refusal or (
            limits.BAD_REQUEST,
            Problem(400, "invalid HTTP request: it could not be parsed"),
        )
        self._refuse(reason, problem)

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
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being written: an answer now would
            # land inside that response. The head's clock restarts when it is done.
            self._arm_head_timer(self.node.settings.head_timeout_seconds)
            return
        timeout = self.node.settings.head_timeout_seconds
        self._refuse(
            limits.HEAD_TIMEOUT,
            Problem(408, f"the request head did not arrive within {timeout:g}s"),
        )

    def _head_limit(self, reason: str, detail: str) -> None:
        """Refuse from inside a parser callback (raising stops the parser mid-request)."""
        self._refusal = (reason, Problem(431, detail))
        raise _Refused

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        limit = self.node.settings.max_header_bytes
        if self._head_bytes > limit:
            self._head_limit(
                limits.HEAD_TOO_LARGE,
                f"the request head is over {limit} bytes (BREAKING_MAX_HEADER_BYTES)",
            )

    # -- parser callbacks: while a subscribe request waits, later requests are not served --

    def on_message_begin(self) -> None:
        if self._takeover is not None:
            # A request pipelined after a subscribe request: its answer would land inside the
            # endless event stream. The subscribe request is refused instead (see below).
            self._pipelined = True
            # Its head is never parsed into anything, but its bytes count against the limit.
            self._in_head = True
            self._head_wire = 0
            return
        self._in_head = True
        self._head_bytes = self._head_wire = self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer(self.node.settings.head_timeout_seconds)
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        # The pipelined request's callbacks would otherwise append to the subscribe request.
        if not self._pipelined:
            self._count_head(len(url))
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._pipelined:
            self._header_count += 1
            limit = self.node.settings.max_headers
            if self._header_count > limit:
                self._head_limit(
                    limits.TOO_MANY_HEADERS,
                    f"the request has more than {limit} header fields (BREAKING_MAX_HEADERS)",
                )
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._pipelined:
            return
        self._in_head = False
        if self._refusal is None:
            self._cancel_head_timer()
        self._admit_client()
        if self._refusal is not None:
            raise _Refused
        parsed = httptools.parse_url(self.url)
        # Compare the path as uvicorn routes it (percent-decoded), so /v1/%65vents is taken
        # over too instead of reaching the ASGI placeholder.
        path = unquote(parsed.path.decode("latin-1"))
        if path in SUBSCRIBE_PATHS:
            method = self.parser.get_method().decode("ascii")
            self._takeover = SubscribeRequest(
                path, method, self.url, parsed.query or b"", self.headers
            )
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        # A subscribe request's body (there should be none) has no cycle to go to.
        if self._takeover is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._takeover is None:
            super().on_message_complete()

    # -- upgrade: a WebSocket subscribe request is not uvicorn's to upgrade ------------------

    def _should_upgrade(self) -> bool:
        # httptools stops at an Upgrade head; claiming it keeps uvicorn from refusing it.
        return self._takeover is not None or super()._should_upgrade()

    def handle_websocket_upgrade(self) -> None:
        if self._takeover is None:
            # The ASGI app has no WebSocket route, and uvicorn would refuse the upgrade with a
            # bodiless text/plain 403: answer where the WebSocket is instead.
            self.transport.write(problem_response(_NO_WEBSOCKET))
            self.transport.close()

    # -- the hand-off --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        # httptools buffers a header field until it ends, so one endless field would grow
        # without bound before on_header could count it: count the bytes as they arrive.
        limit = self.node.settings.max_header_bytes
        if self._in_head and self._head_wire > limit:
            self._refuse(
                limits.HEAD_TOO_LARGE,
                Problem(431, f"the request head is over {limit} bytes (BREAKING_MAX_HEADER_BYTES)"),
            )
            return
        super().data_received(data)
        if self._in_head:
            self._head_wire += len(data)
        if self._takeover is not None and self._idle():
            self._hand_off()

    def _admit_client(self) -> None:
        """Behind a trusted proxy, count the connection under the client it carries."""
        lease = self._lease
        if lease is None or self._refusal is not None or not self.limits.proxies:
            return
        forwarded = next((v for k, v in self.headers if k == b"x-forwarded-for"), None)
        address = limits.client_address(
            self._peer, forwarded.decode("latin-1") if forwarded else None, self.limits.proxies
        )
        if address == lease.address:
            return
        full = self.limits.address_full(address)
        lease.move(address)
        if full:
            self._refusal = (limits.ADDRESS_FULL, self._address_full())

    def on_response_complete(self) -> None:
        # An earlier request on this connection finished: a waiting subscribe may go now.
        super().on_response_complete()
        if self._takeover is not None and self._idle() and not self.transport.is_closing():
            self._hand_off()

    def _idle(self) -> bool:
        """No earlier request is still being answered, or queued to be."""
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _hand_off(self) -> None:
        request, self._takeover = self._takeover, None
        assert request is not None
        if self._pipelined:
            self.transport.write(problem_response(_PIPELINED))
            self.transport.close()
            return
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
            return
        # From here the connection belongs to a subscriber; uvicorn forgets this protocol.
        self._unset_keepalive_if_required()
        self.connections.discard(self)
        self.node.gateway.accept(request, self.transport, self.connections)
        subscriber = self.transport.get_protocol()
        if isinstance(subscriber, SubscriberProtocol):
            # This protocol never hears of the connection again: its subscriber releases it.
            subscriber.on_close = self._lease.release
            self._lease = None


def takeover_protocol(node: Node) -> type[TakeoverProtocol]:
    """The `http` protocol class for uvicorn, bound to `node` (uvicorn takes a class)."""
    node.takeover_installed = True
    shared = {"node": node, "limits": ConnectionLimits.of(node.settings), "refusals": RefusalLog()}
    return type("NodeTakeoverProtocol", (TakeoverProtocol,), shared)
