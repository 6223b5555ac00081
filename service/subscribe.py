"""The subscribers' door: filters, resume, and the race-free hand-off from replay to live."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from service.broker.base import Broker, BrokerUnavailable
from service.config import Settings
from service.events import Codec, Event, EventKey
from service.filters import Filter, parse_query, parse_resume
from service.hub import NO_POSITION, Hub
from service.models import SubscribeQuery
from service.problems import Problem
from service.replay import PageReader
from service.transports.http import http_head, problem_response
from service.transports.sse import SseSubscriber, sse_head, sse_heartbeat
from service.transports.subscriber import SubscriberProtocol
from service.transports.ws import WsSubscriber, handshake, ws_heartbeat

log = logging.getLogger("breaking_push.subscribe")

SSE_PATH, WS_PATH = "/v1/events", "/v1/ws"
SUBSCRIBE_PATHS = frozenset((SSE_PATH, WS_PATH))


def subscribe_route(path: bytes | None) -> str:
    """The subscribe route a request path names, percent-decoded as uvicorn routes it (so
    /v1/%65vents is one too), or ''."""
    if path is None:
        return ""
    text = unquote(path.decode("latin-1")) if b"%" in path else path.decode("latin-1")
    return text if text in SUBSCRIBE_PATHS else ""


# Replays up to this many events from the node's memory are written at once; longer
# ones go through the task that waits for the socket to drain between chunks.
_INLINE_REPLAY = 32
_REPLAY_CHUNK = 64
# A client whose id is ahead of this node waits this long for the node to catch up.
_CATCH_UP_S = 5.0
# Refused origins are logged once per this long each; at most this many are remembered.
_REFUSED_LOG_S = 60.0
_REFUSED_ORIGINS_KEPT = 1024
# A replaying client whose socket stays full this long is stalled.
_STALLED_S = 30.0
# Events buffered for one replaying subscriber before it counts as too slow.
_MAX_PENDING = 10_000
# Distinct query strings whose parsed filters are kept, and the longest kept: a ticker's query
# is far shorter, and unknown parameters are ignored, so a head's worth of them must not be.
_QUERIES_KEPT = 4096
_QUERY_KEPT_BYTES = 1024
# Short replays kept as bytes (each at most _INLINE_REPLAY events).
_SHORT_REPLAYS_KEPT = 256
_PREFLIGHT = [
    ("access-control-allow-methods", "GET"),
    ("access-control-allow-headers", "Last-Event-ID, Cache-Control"),
    ("access-control-max-age", "600"),
    ("content-length", "0"),
    ("connection", "close"),
]


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """What the HTTP layer parsed of a subscribe request, before any bytes are answered."""

    path: str
    method: str
    target: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


class Gateway:
    """Admits subscribers to the hub, replaying what they missed first."""

    def __init__(self, settings: Settings, hub: Hub, broker: Broker) -> None:
        self.settings = settings
        self.hub = hub
        self.broker = broker
        self._pages = PageReader(broker)
        self._sse_heartbeat = sse_heartbeat(settings.heartbeat_seconds)
        self._ws_heartbeat = ws_heartbeat(settings.heartbeat_seconds)
        self._filters: dict[Filter, Filter] = {}
        # A reconnect storm repeats a handful of query strings: each is parsed once.
        self._parse_query = functools.lru_cache(maxsize=_QUERIES_KEPT)(self._parse_uncached)
        # A reconnect storm resumes from a few ids with a few filters, at one hub state.
        self._short_replay = functools.lru_cache(maxsize=_SHORT_REPLAYS_KEPT)(
            self._short_replay_uncached
        )
        self._refused: dict[str | None, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def intern(self, flt: Filter) -> Filter:
        """One shared Filter object per distinct filter keeps idle subscribers small."""
        return self._filters.setdefault(flt, flt)

    def _parse_uncached(self, query: bytes) -> tuple[Filter, str | None]:
        """A query string's filter and `last_event_id`; 400 (not kept) if it is wrong."""
        params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
        parsed = parse_query(SubscribeQuery, params, self.settings.regions)
        return self.intern(Filter.of(parsed)), parsed.last_event_id

    def origin_allowed(self, origin: str | None, host: str | None = None) -> bool:
        """No Origin (an app), a listed one, or the node's own pages (same host)."""
        allowed = self.settings.allowed_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True
        return host is not None and urlsplit(origin).netloc == host

    def _log_refused(self, origin: str | None) -> None:
        """One line per refused origin per minute: an embed on a wrong site says why, once."""
        now = time.monotonic()
        if now - self._refused.get(origin, -_REFUSED_LOG_S) < _REFUSED_LOG_S:
            return
        if len(self._refused) >= _REFUSED_ORIGINS_KEPT:
            self._refused.clear()
        self._refused[origin] = now
        log.warning(
            "refused subscribers from origin %s: not in BREAKING_ALLOWED_ORIGINS "
            "(logged once a minute per origin)",
            origin,
        )

    def check_ready(self) -> None:
        if not self.broker.ready:
            raise Problem(
                503,
                "this node is not connected to its broker yet; retry shortly",
                headers={"retry-after": "1"},
            )

    def accept(
        self, request: SubscribeRequest, transport: asyncio.Transport, connections: set[Any]
    ) -> None:
        """Answer a taken-over subscribe request: an error, or a subscriber that stays."""
        origin = request.header(b"origin")
        cors_headers = (
            [("access-control-allow-origin", origin), ("vary", "Origin")]
            if origin is not None and self.origin_allowed(origin)
            else []
        )
        try:
            if request.method == "OPTIONS" and request.path == SSE_PATH:
                transport.write(http_head(204, [*cors_headers, *_PREFLIGHT]))
                transport.close()
                return
            self._admit(request, transport, connections, origin, cors_headers)
        except Problem as problem:
            transport.write(problem_response(problem, cors_headers))
            transport.close()

    def _admit(
        self,
        request: SubscribeRequest,
        transport: asyncio.Transport,
        connections: set[Any],
        origin: str | None,
        cors_headers: list[tuple[str, str]],
    ) -> None:
        if request.method != "GET":
            raise Problem(405, f"{request.path} takes GET", headers={"allow": "GET"})
        if not self.origin_allowed(origin, request.header(b"host")):
            self._log_refused(origin)
            raise Problem(
                403,
                f"origin {origin} is not allowed to subscribe; the node's operator lists the "
                "sites that may embed its tickers in BREAKING_ALLOWED_ORIGINS",
            )
        query = request.query
        parse = self._parse_query if len(query) <= _QUERY_KEPT_BYTES else self._parse_uncached
        flt, last_event_id = parse(query)
        after = parse_resume(request.header(b"last-event-id") or last_event_id)
        sub: SubscriberProtocol
        if request.path == WS_PATH:
            self.check_ready()
            head = handshake(request.headers)
            sub = WsSubscriber(
                self.hub,
                flt,
                transport,
                connections,
                ops=self,
                heartbeat_s=self.settings.heartbeat_seconds,
                heartbeat=self._ws_heartbeat,
            )
        else:
            self.check_ready()
            head = sse_head(self.settings.sse_retry_ms, cors_headers)
            sub = SseSubscriber(
                self.hub, flt, transport, connections, heartbeat=self._sse_heartbeat
            )
        transport.set_protocol(sub)
        self.open(sub, after, head)

    def resubscribe(self, sub: WsSubscriber, op: Mapping[str, Any]) -> None:
        """A WebSocket `subscribe` op: new filters, optionally replaying from `last_event_id`."""
        if self.hub.replaying(sub):
            raise Problem(409, "a replay is in progress; send subscribe again after `ready`")
        query = parse_query(SubscribeQuery, op, self.settings.regions)
        flt = self.intern(Filter.of(query))
        after = parse_resume(query.last_event_id)
        self.hub.remove(sub)
        sub.filter = flt
        self.open(sub, after)

    def open(self, sub: SubscriberProtocol, after: EventKey | None, head: bytes = b"") -> None:
        """Replay what `sub` missed after `after`, then file it for live events, with no gap.

        `head` (the response head) goes out in the same write as a short replay, so a
        reconnecting subscriber usually costs one write.
        """
        if after is None:
            self._go_live(sub, [head])
            return
        short = self._short_replay(after, sub.filter, sub.codec, self.hub.version)
        if short is not None:
            # Nothing can be dispatched between this write and add(): no gap, no repeat.
            self._go_live(sub, [head, short])
            return
        recent = self.hub.recent_after(after)
        if recent is not None:
            recent = [event for event in recent if sub.filter.matches(event)]
        if head:
            sub.transport.write(head)
        # The split point between history and buffer is taken together with hold(): the task
        # starts later, and events dispatched meanwhile are already in the buffer.
        held_at = self.hub.position
        self.hub.hold(sub)
        task = asyncio.create_task(self._replay(sub, after, held_at, recent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _short_replay_uncached(
        self, after: EventKey, flt: Filter, codec: Codec, version: int
    ) -> bytes | None:
        """What `flt` missed after `after` as `codec` bytes, when the node's memory holds it
        and it is short; else None. `version` is only part of the key: the hub's state."""
        recent = self.hub.recent_after(after)
        if recent is None:
            return None
        matching = [event for event in recent if flt.matches(event)]
        if len(matching) > _INLINE_REPLAY:
            return None
        return b"".join(event.wire(codec) for event in matching)

    def _go_live(self, sub: SubscriberProtocol, chunks: list[bytes]) -> None:
        self.hub.add(sub)
        chunks.append(sub.live_marker(self.hub.position))
        sub.transport.write(b"".join(chunks))

    async def _replay(
        self,
        sub: SubscriberProtocol,
        after: EventKey,
        held_at: EventKey,
        cached: list[Event] | None,
    ) -> None:
        # Everything up to `held_at` comes from history; everything after it was buffered by
        # the hub since hold(). Together they cover the gap exactly once.
        try:
            if cached is not None:
                await self._write(sub, cached)
            elif not await self._replay_history(sub, after, held_at):
                after = NO_POSITION
        except BrokerUnavailable as exc:
            sub.drop(f"broker unavailable during replay ({exc})")
            return
        except TimeoutError:
            sub.drop("replay timed out (a stalled client, or this node behind the client's id)")
            return
        except _TooSlow:
            sub.drop("unable to receive the replay fast enough")
            return
        except Exception:
            # Every exit path ends live or closed: never an open connection that gets nothing.
            log.exception("replay failed")
            sub.drop("replay failed on the server")
            return
        finally:
            buffered = self.hub.release(sub)
        if buffered is None or sub.transport.is_closing():
            return
        # An alert buffered before its retraction is not written after it.
        self._go_live(
            sub,
            [
                event.wire(sub.codec)
                for event in buffered
                if event.key > after and self.hub.serves(event)
            ],
        )

    async def _replay_history(
        self, sub: SubscriberProtocol, after: EventKey, held_at: EventKey
    ) -> bool:
        """Write history after `after` up to `held_at`, a page at a time; False if it was reset.

        The first page is read even for a client ahead of this node: history still judges its
        id (one lost in a failover, or never handed out, is a reset, not a wait).
        """
        position = after
        while True:
            page = await self._pages.page(position)
            if page.reset:
                sub.send_reset()
                return False
            if page.through is None:
                break
            position = page.through
            await self._write(
                sub, [e for e in page.events if e.key <= held_at and sub.filter.matches(e)]
            )
            if position >= held_at:
                break
        await self._catch_up(after)
        return True

    async def _write(self, sub: SubscriberProtocol, events: list[Event]) -> None:
        """Write part of a replay in chunks, letting the socket drain and the loop breathe
        after each: a page per write would hold a page's bytes per replaying client here.

        The events may have been read or cached before an alert among them was retracted:
        what was taken down since is left out.
        """
        served = [event for event in events if self.hub.serves(event)]
        for start in range(0, max(len(served), 1), _REPLAY_CHUNK):
            if chunk := served[start : start + _REPLAY_CHUNK]:
                sub.transport.write(b"".join(event.wire(sub.codec) for event in chunk))
            async with asyncio.timeout(_STALLED_S):
                await sub.writable()
            await asyncio.sleep(0)
            if self.hub.pending_size(sub) > _MAX_PENDING:
                raise _TooSlow

    async def _catch_up(self, after: EventKey) -> None:
        """A client that saw an event this node has not yet received waits until it has."""
        async with asyncio.timeout(_CATCH_UP_S):
            await self.hub.reached(after)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _TooSlow(Exception):
    """Live events piled up for a replaying subscriber faster than it read its replay."""
