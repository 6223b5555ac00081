"""Push subscriptions and jobs in Redis, shared by every node.

Jobs are the history stream's entries read through one consumer group, so each event is
pushed by one node. Each subscription reached is recorded in a per-event set before the
entry is acknowledged; a node that dies mid-job leaves the entry pending, another node
claims it once it has been idle `push_claim_seconds`, and skips the recorded ones.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, cast

from redis.exceptions import ResponseError

from service.broker.redis_topology import UNAVAILABLE, Client, client, key_prefix
from service.config import Settings
from service.events import Event
from service.push.models import PushTarget, target_id
from service.push.store import Job, PushBackendError, PushQueue, PushStore

_SCRIPT = Path(__file__).parent / "push_subscribe.lua"
_GROUP = "push"
_BLOCK_MS = 1000
_HMGET_CHUNK = 1000
# A finished job's record is deleted; this only bounds one abandoned for good.
_DONE_TTL_S = 7 * 24 * 3600


def _client(settings: Settings) -> Client:
    return client(settings, socket_timeout=5, socket_connect_timeout=2)


class RedisPushStore(PushStore):
    """A hash of subscriptions by id, and a set of ids per region (`*` for every region)."""

    def __init__(self, settings: Settings) -> None:
        prefix = key_prefix(settings)
        self._subs = f"{prefix}:push:subs"
        self._region_prefix = f"{prefix}:push:region:"
        self._redis = _client(settings)
        self._script = self._redis.register_script(_SCRIPT.read_text())

    async def _run(self, target_key: str, body: bytes, regions: list[str]) -> bool:
        try:
            changed = await self._script(
                keys=[self._subs], args=[self._region_prefix, target_key, body, *regions]
            )
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc
        return bool(changed)

    async def add(self, target: PushTarget) -> bool:
        regions = sorted(target.filter.regions) if target.filter.regions is not None else ["*"]
        return await self._run(target.id, target.encode(), regions)

    async def remove(self, endpoint: str) -> bool:
        return await self._run(target_id(endpoint), b"", [])

    async def matching(self, event: Event) -> list[PushTarget]:
        keys = [self._region_prefix + region for region in (*event.regions, "*")]
        try:
            ids = cast("set[bytes]", await self._redis.sunion(keys))
            ordered = sorted(ids)
            bodies: list[bytes | None] = []
            for start in range(0, len(ordered), _HMGET_CHUNK):
                chunk = ordered[start : start + _HMGET_CHUNK]
                bodies += await self._redis.hmget(self._subs, chunk)  # type: ignore[arg-type]
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc
        targets = (PushTarget.decode(body) for body in bodies if body is not None)
        return [t for t in targets if t.filter.matches(event)]

    async def close(self) -> None:
        await self._redis.aclose()


class RedisPushQueue(PushQueue):
    """One consumer of the `push` group over the history stream."""

    def __init__(self, settings: Settings) -> None:
        prefix = key_prefix(settings)
        self._stream = f"{prefix}:events"
        self._done_prefix = f"{prefix}:push:done:"
        self._claim_ms = int(settings.push_claim_seconds * 1000)
        self._consumer = f"{socket.gethostname()}:{os.getpid()}"
        self._redis = _client(settings)
        self._group_ready = False

    def offer(self, event: Event) -> None:
        """Nothing to do: the stream already holds every event for the group."""

    async def start(self) -> None:
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # `$`: events published before push existed on this Redis are not pushed.
            await self._redis.xgroup_create(self._stream, _GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise PushBackendError(str(exc)) from exc
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc
        self._group_ready = True

    async def next(self) -> Job | None:
        try:
            await self._ensure_group()
            entry = await self._claim_abandoned()
            if entry is None:
                reply: Any = await self._redis.xreadgroup(
                    _GROUP, self._consumer, {self._stream: ">"}, count=1, block=_BLOCK_MS
                )
                entry = reply[0][1][0] if reply and reply[0][1] else None
            if entry is None:
                return None
            entry_id, fields = entry
            token = entry_id.decode()
            done = await self._redis.smembers(self._done_prefix + token)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                self._group_ready = False  # Redis came back empty: make the group again
            raise PushBackendError(str(exc)) from exc
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc
        event = Event.decode(token, fields[b"e"])
        return Job(event, token, {d.decode() for d in cast("set[bytes]", done)})

    async def _claim_abandoned(self) -> Any:
        """An entry some consumer took and then left idle past the claim time, if any."""
        _, entries, *_ = await self._redis.xautoclaim(
            self._stream, _GROUP, self._consumer, self._claim_ms, start_id="0-0", count=1
        )
        live = [e for e in entries if e and e[1]]
        return live[0] if live else None

    async def delivered(self, job: Job, target_id: str) -> None:
        key = self._done_prefix + job.token
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sadd(key, target_id)
                pipe.expire(key, _DONE_TTL_S)
                await pipe.execute()
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc

    async def keep(self, job: Job) -> None:
        try:
            await self._redis.xclaim(
                self._stream, _GROUP, self._consumer, 0, [job.token], justid=True
            )
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc

    async def finish(self, job: Job) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, _GROUP, job.token)
                pipe.delete(self._done_prefix + job.token)
                await pipe.execute()
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc

    async def depth(self) -> int:
        try:
            groups = await self._redis.xinfo_groups(self._stream)
        except UNAVAILABLE as exc:
            raise PushBackendError(str(exc)) from exc
        for group in groups:
            if group["name"] in (_GROUP, _GROUP.encode()):
                return int(group.get("pending") or 0) + int(group.get("lag") or 0)
        return 0

    async def close(self) -> None:
        await self._redis.aclose()
