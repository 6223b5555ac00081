"""The Redis broker: a capped stream for history, pub/sub for live, one subscription per process.

The same on one server, under Sentinel or on a Cluster: `redis_topology.py` chooses what
differs between them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import orjson
from redis.asyncio.connection import AbstractConnection
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.broker.audit import audit_entry, bounds, cut_page
from service.broker.base import (
    AuditNote,
    Broker,
    BrokerUnavailable,
    Draft,
    History,
    IdempotencyConflict,
    IdempotencyKey,
    LiveAlert,
    NotReplicated,
    OnEvent,
    OnSync,
    Published,
    RateLimit,
    RateLimited,
    UnknownAlert,
    covers,
    readable,
)
from service.broker.redis_topology import (
    UNAVAILABLE,
    client,
    key_prefix,
    link,
    publish_and_wait,
)
from service.config import Settings
from service.events import Event, EventKey, format_id, parse_id
from service.models import AuditEntry, AuditPage, AuditQuery

log = logging.getLogger("breaking_push.broker")

_SCRIPTS = Path(__file__).parent
_BACKOFF_MAX_S = 5.0
# Audit entries read per round trip while a filtered page fills.
_AUDIT_BATCH = 500


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBroker(Broker):
    """Any number of nodes share one Redis; each node reads every event once, in id order."""

    def __init__(
        self, settings: Settings, on_undecodable: Callable[[], None] = lambda: None
    ) -> None:
        self._on_undecodable = on_undecodable
        # A silent subscription is pinged after this long, and dropped after as long again.
        self._ping_s = settings.redis_ping_seconds
        self._size = settings.history_size
        self._idempotency_ttl = settings.idempotency_ttl_seconds
        self._audit_size = settings.audit_size
        prefix = key_prefix(settings)
        self._stream = f"{prefix}:events"
        self._meta = f"{prefix}:meta"
        self._alerts = f"{prefix}:alerts"
        self._corrected = f"{prefix}:corrected"
        self._expiry = f"{prefix}:expiry"
        self._retracted = f"{prefix}:retracted"
        self._idem_prefix = f"{prefix}:idem:"
        self._rate_prefix = f"{prefix}:rate:"
        self._channel = f"{prefix}:live"
        self._audit = f"{prefix}:audit"
        self._replicas = settings.redis_min_replicas_ack
        self._replicas_timeout_ms = settings.redis_min_replicas_ack_timeout_ms
        try:
            # No automatic retries: a publish retried after its reply was lost could publish
            # twice. The socket timeout leaves room for the replicas' acknowledgement (WAIT).
            self._redis = client(
                settings,
                socket_timeout=5 + self._replicas_timeout_ms / 1000,
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 0),
            )
            self._link = link(self._redis, settings, self._channel, self._ping_s)
        except (*UNAVAILABLE, TypeError, ValueError) as exc:
            raise ValueError(f"BREAKING_REDIS_URL is not usable: {exc}") from exc
        self._publish_script = self._redis.register_script((_SCRIPTS / "publish.lua").read_text())
        self._history_script = self._redis.register_script((_SCRIPTS / "history.lua").read_text())
        self._last: EventKey = (0, 0)
        self._ready = False
        self._reader: asyncio.Task[None] | None = None
        self._on_event: OnEvent | None = None
        self._on_sync: OnSync | None = None
        self._first_ready = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self, on_event: OnEvent, on_sync: OnSync) -> None:
        self._on_event, self._on_sync = on_event, on_sync
        self._reader = asyncio.create_task(self._read_forever(), name="redis-subscription")
        # Give a reachable Redis a moment so the node starts ready; an unreachable one
        # leaves it unready (503 on /readyz) while the reader keeps retrying.
        try:
            await asyncio.wait_for(self._first_ready.wait(), timeout=3)
        except TimeoutError:
            log.warning(
                "Redis at %s is not reachable yet; retrying in the background", self._link.where
            )

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ready = False
        await self._redis.aclose()

    async def _read_forever(self) -> None:
        delay = 0.05
        while True:
            connection: AbstractConnection | None = None
            try:
                connection = await self._link.connection()
                await connection.connect()  # type: ignore[no-untyped-call]
                await connection.send_command(self._link.subscribe, self._channel)
                await connection.read_response()
                # Subscribed first, then backfill: whatever is published meanwhile arrives
                # twice and the id check in _deliver keeps the first.
                await self._backfill()
                self._ready = True
                self._first_ready.set()
                delay = 0.05
                log.info("subscribed to Redis at %s; live from %s", self._link.where, self._last)
                await self._listen(connection)
            except (*UNAVAILABLE, OSError, BrokerUnavailable) as exc:
                if self._ready:
                    log.warning("lost Redis at %s (%s); reconnecting", self._link.where, exc)
                else:
                    log.debug("Redis at %s unavailable (%s); retrying", self._link.where, exc)
                self._ready = False
            except Exception:
                # The reader is the node's only way to hear events: it must outlive any bug.
                log.exception("Redis subscription failed unexpectedly; reconnecting")
                self._ready = False
            finally:
                if connection is not None:
                    await connection.disconnect()
            # Full jitter, so a fleet of nodes does not reconnect in lockstep.
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _backfill(self) -> None:
        assert self._on_sync is not None
        if not self._first_ready.is_set():
            self._last = await self.position()
            self._on_sync(self._last, False)
            return
        history = await self._history(self._last, ensure_floor=True)
        if history.reset:
            log.warning(
                "Redis history no longer covers %s: telling subscribers to reload", self._last
            )
            self._last = await self.position()
            self._on_sync(self._last, True)
            return
        for event in history.events:
            self._deliver(event)

    async def _listen(self, connection: AbstractConnection) -> None:
        awaiting_pong = False
        while True:
            message = await connection.read_response(timeout=self._ping_s)
            if message is None:
                if awaiting_pong:
                    raise ConnectionError("Redis stopped answering pings")
                await connection.send_command("PING")
                awaiting_pong = True
                continue
            awaiting_pong = False
            if message[0] in (b"unsubscribe", b"sunsubscribe"):
                # A cluster slot moved to another primary: resubscribe there and backfill.
                raise ConnectionError(f"Redis ended the subscription ({_text(message[0])})")
            if message[0] == self._link.message:
                event_id, _, body = message[2].partition(b" ")
                event = self._decode(event_id, body, "live")
                if event is not None:
                    self._deliver(event)
                else:
                    self._pass(event_id)

    def _deliver(self, event: Event) -> None:
        if event.key <= self._last:
            return
        self._last = event.key
        assert self._on_event is not None
        self._on_event(event)

    def _pass(self, event_id: bytes) -> None:
        """Move past an event that was skipped, so the next backfill does not read it again."""
        try:
            key = parse_id(_text(event_id))
        except ValueError:
            return
        self._last = max(self._last, key)

    def _decode(self, event_id: bytes | str, body: Any, where: str) -> Event | None:
        """The event, or None (logged and counted) if it cannot be decoded.

        An event a newer node wrote (an unknown priority, say) must not stop this node: it is
        skipped, and every other event still arrives.
        """
        try:
            return Event.decode(_text(event_id), body)
        except Exception as exc:  # whatever a foreign or broken body makes decode raise
            log.error("skipping undecodable event %s (%s): %r", _text(event_id), where, exc)
            self._on_undecodable()
            return None

    async def position(self) -> EventKey:
        floor, _, last, *_ = await self._read_history((0, 0), entries=0, ensure_floor=True)
        return max(parse_id(_text(floor)), parse_id(_text(last)))

    async def publish(
        self,
        draft: Draft,
        idempotency: IdempotencyKey | None = None,
        rate: RateLimit | None = None,
        audit: AuditNote | None = None,
    ) -> Published:
        keys = [self._stream, self._meta, self._alerts, self._corrected, self._expiry]
        keys.append(self._idem_prefix + (idempotency.key if idempotency else ""))
        keys.append(self._rate_prefix + (rate.key if rate else ""))
        keys += [self._audit, self._retracted]
        args: list[bytes | str | int] = [
            draft.type,
            draft.body,
            draft.alert_id or "",
            draft.headline or "",
        ]
        args += [self._size, draft.ttl_ms, idempotency.fingerprint if idempotency else ""]
        args += [self._idempotency_ttl, self._channel]
        args += [rate.limit, rate.window_s * 1000] if rate else [0, 0]
        args += [orjson.dumps(audit.record(draft)) if audit else "", self._audit_size]
        args.append(self._link.publish)
        try:
            (status, value), acknowledged = await self._publish_and_wait(keys, args)
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if status == b"unknown":
            raise UnknownAlert(draft.alert_id)
        if status == b"limited":
            raise RateLimited(max(int(value), 0) / 1000)
        if status == b"replay":
            fingerprint, event_id, body = value.split(b"\n", 2)
            if idempotency is None or fingerprint.decode() != idempotency.fingerprint:
                raise IdempotencyConflict(idempotency.key if idempotency else "")
            published = Published(Event.decode(event_id.decode(), body), replayed=True)
        else:
            published = Published(Event.decode(_text(value), draft.body))
        if acknowledged < self._replicas:
            raise NotReplicated(published.event, acknowledged, self._replicas)
        return published

    async def _publish_and_wait(
        self, keys: list[str], args: list[bytes | str | int]
    ) -> tuple[Any, int]:
        """The publish script's reply, and how many replicas acknowledged its writes."""
        if not self._replicas:
            return await self._publish_script(keys=keys, args=args), 0
        return await publish_and_wait(
            self._redis, self._publish_script, keys, args, self._replicas, self._replicas_timeout_ms
        )

    async def audit(self, query: AuditQuery) -> AuditPage:
        return await cut_page(self._audit_newest_first(query), query)

    async def _audit_newest_first(self, query: AuditQuery) -> AsyncIterator[AuditEntry]:
        """The audit stream from the newest entry in range back, a batch per round trip."""
        before, since = bounds(query)
        upper = "+" if before is None else f"({format_id(before)}"
        lower = "-" if since is None else format_id(since)
        while True:
            try:
                batch = cast(
                    "list[tuple[bytes, dict[bytes, bytes]]]",
                    await self._redis.xrevrange(self._audit, upper, lower, count=_AUDIT_BATCH),
                )
            except UNAVAILABLE as exc:
                raise BrokerUnavailable(str(exc)) from exc
            for entry_id, fields in batch:
                yield _audit_entry(_text(entry_id), fields)
            if len(batch) < _AUDIT_BATCH:
                return
            upper = f"({_text(batch[-1][0])}"

    async def history(self, after: EventKey, limit: int | None = None) -> History:
        return await self._history(after, ensure_floor=False, limit=limit)

    async def _read_history(self, after: EventKey, *, entries: int, ensure_floor: bool) -> Any:
        args: list[str | int] = [f"{after[0]}-{after[1]}", entries, int(ensure_floor)]
        try:
            keys = [self._stream, self._meta, self._retracted]
            return await self._history_script(keys=keys, args=args)
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(str(exc)) from exc

    async def _history(
        self, after: EventKey, *, ensure_floor: bool, limit: int | None = None
    ) -> History:
        floor, trimmed, last, entries, retracted, held = await self._read_history(
            after, entries=-1 if limit is None else limit, ensure_floor=ensure_floor
        )
        floor_key = parse_id(_text(floor))
        top = max(parse_id(_text(last)), floor_key)
        trimmed_key = parse_id(_text(trimmed))
        if not covers(after, floor=floor_key, trimmed=trimmed_key, top=top, held=held == 1):
            return History([], reset=True, through=None)
        events = [
            event
            for i, fields in entries
            if (event := self._decode(i, _stored(fields), "history")) is not None
        ]
        through = parse_id(_text(entries[-1][0])) if entries else None
        return readable(events, {_text(i) for i in retracted}, through)

    async def alert(self, alert_id: str) -> LiveAlert | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hget(self._alerts, alert_id)
                pipe.hget(self._corrected, alert_id)
                pipe.zscore(self._expiry, alert_id)
                body, headline, expires = await pipe.execute()
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if body is None or expires is None or expires <= time.time() * 1000:
            return None
        return self._live(alert_id, body, headline)

    async def live_alerts(self) -> list[LiveAlert]:
        now_ms = int(time.time() * 1000)
        try:
            ids = cast(
                "list[bytes]",
                await self._redis.zrevrangebyscore(self._expiry, "+inf", f"({now_ms}"),
            )
            if not ids:
                return []
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(self._alerts, ids)
                pipe.hmget(self._corrected, ids)
                bodies, headlines = await pipe.execute()
        except UNAVAILABLE as exc:
            raise BrokerUnavailable(str(exc)) from exc
        alerts = [
            alert
            for i, body, headline in zip(ids, bodies, headlines, strict=True)
            if body is not None and (alert := self._live(_text(i), body, headline)) is not None
        ]
        return sorted(alerts, key=lambda a: a.event.key, reverse=True)

    def _live(self, alert_id: str, body: bytes, headline: bytes | None) -> LiveAlert | None:
        event = self._decode(alert_id, body, "listing")
        if event is None:
            return None
        return LiveAlert(
            event, _text(headline) if headline is not None else event.payload["headline"]
        )


def _stored(fields: list[bytes]) -> bytes | None:
    """The body of a stream entry (`e`), wherever it sits among the entry's fields."""
    return dict(zip(fields[::2], fields[1::2], strict=False)).get(b"e")


def _audit_entry(entry_id: str, fields: dict[bytes, bytes]) -> AuditEntry:
    return audit_entry(
        entry_id,
        orjson.loads(fields[b"r"]),
        alert_id=_text(fields[b"i"]),
        event_id=_text(fields[b"e"]),
        headline_before=_text(fields[b"b"]),
    )
