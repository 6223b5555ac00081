"""Redis Cluster (`BREAKING_REDIS_CLUSTER=true`): every key under one hash tag, live events
over sharded pub/sub on the primary that owns the tag's slot.

All keys of one deployment share a slot, so the Lua scripts and the MULTI reads stay atomic
on one primary; `SPUBLISH` from the publish script reaches the subscribers of that shard
only, so the live channel carries the tag too (Redis 7.0 does not refuse a script's
`SPUBLISH` to another slot: it would publish into the wrong shard, silently).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as NoConnection
from redis.exceptions import TimeoutError as NoAnswer

from service.config import Settings


def cluster_client(settings: Settings, **options: Any) -> RedisCluster:
    """A client that follows the cluster's slot map from the node BREAKING_REDIS_URL names."""
    assert settings.redis_url is not None
    # Every key of this deployment lives in one slot: the rest of the cluster need not be up.
    return RedisCluster.from_url(settings.redis_url, require_full_coverage=False, **options)


async def script_and_wait(
    cluster: RedisCluster,
    script: AsyncScript,
    keys: Sequence[str],
    args: Sequence[bytes | str | int],
    wait: tuple[int, int],
) -> tuple[Any, int]:
    """Run `script`, then `WAIT replicas timeout_ms` (`wait`), on one connection to the
    primary of the keys' slot: the script's reply, and how many replicas acknowledged it.

    A cluster pipeline would send the keyless WAIT to any node, so both go on a connection of
    the slot's primary. Nothing is retried once the script may have run (a retry could publish
    twice): a redirect (the slot moved), a dead node or a timeout refreshes the slot map for
    the next publish and raises.
    """
    await cluster.initialize()
    node = cluster.get_node_from_key(keys[0])
    if node is None:
        raise RedisClusterException(f"no primary serves {keys[0]}")
    call = (len(keys), *keys, *args)
    reply, acknowledged = await _pipeline(
        cluster, node, ("EVALSHA", script.sha, *call), ("WAIT", *wait)
    )
    if isinstance(reply, NoScriptError):
        # Nothing ran, so sending it again is safe: whole this once, then cached by the node.
        reply, acknowledged = await _pipeline(
            cluster, node, ("EVAL", script.script, *call), ("WAIT", *wait)
        )
    for outcome in (reply, acknowledged):
        if isinstance(outcome, _STALE):
            await _refresh(cluster, node)
        if isinstance(outcome, Exception):
            raise outcome
    return reply, int(acknowledged)


# Errors after which the slot map may be out of date: MOVED and ASK (the slot moved), a
# failover in progress, or no answer from the node.
_STALE = (AskError, ClusterDownError, TryAgainError, ReadOnlyError, NoConnection, NoAnswer)


async def _pipeline(
    cluster: RedisCluster, node: ClusterNode, *commands: tuple[Any, ...]
) -> list[Any]:
    """The replies to `commands`, sent in one write on one of `node`'s connections; an error
    reply comes back as its exception."""
    pipeline = [PipelineCommand(position, *command) for position, command in enumerate(commands)]
    try:
        await node.execute_pipeline(pipeline)
    except _STALE:
        await _refresh(cluster, node)
        raise
    return [command.result for command in pipeline]


async def _refresh(cluster: RedisCluster, node: ClusterNode) -> None:
    """Read the slot map again, asking `node` last, so the next publish finds the slot's
    primary; if no node answers yet, the publish after tries again."""
    with contextlib.suppress(RedisError, RedisClusterException):
        await cluster.nodes_manager.initialize(last_failed_node_name=node.name)


class ShardLink:
    """Where the live subscription connects in cluster mode: the primary of the channel's slot.

    Each connection is made afresh from a refreshed slot map, so a reconnect after a failover
    (the dead primary's socket drops) or a slot migration (Redis sends `sunsubscribe`) lands
    on the new owner; the reader backfills from its last id after every reconnect. redis-py's
    ClusterPubSub moves shard subscriptions in the background instead, without telling the
    reader that events may have been missed meanwhile.
    """

    publish = "SPUBLISH"
    subscribe = "SSUBSCRIBE"
    message = b"smessage"

    def __init__(self, cluster: RedisCluster, channel: str, timeout: float) -> None:
        self._cluster = cluster
        self._channel = channel
        self._timeout = timeout
        # For logs: the node named in the URL until the slot's primary is known.
        self.where = cluster.startup_nodes[0].name

    async def connection(self) -> AbstractConnection:
        """An unconnected RESP2 connection to the slot's primary, as the cluster sees it now."""
        try:
            await self._cluster.nodes_manager.initialize()
            node = self._cluster.get_node_from_key(self._channel)
        except RedisClusterException as exc:
            raise ConnectionError(str(exc)) from exc
        if node is None:
            raise ConnectionError(f"no primary serves {self._channel} yet")
        self.where = node.name
        # RESP2: redis-py routes RESP3 pub/sub pushes to a handler instead of read_response.
        options = {**node.connection_kwargs, "protocol": 2}
        options |= {"socket_connect_timeout": self._timeout, "socket_timeout": self._timeout}
        connection: AbstractConnection = node.connection_class(**options)
        return connection
