"""Redis Cluster (`BREAKING_REDIS_CLUSTER=true`): every key under one hash tag, live events
over sharded pub/sub on the primary that owns the tag's slot.

All keys of one deployment share a slot, so the Lua scripts and the MULTI reads stay atomic
on one primary; `SPUBLISH` from the publish script reaches the subscribers of that shard
only, so the live channel carries the tag too (Redis 7.0 does not refuse a script's
`SPUBLISH` to another slot: it would publish into the wrong shard, silently).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisClusterException

from service.config import Settings


def cluster_client(settings: Settings, **options: Any) -> RedisCluster:
    """A client that follows the cluster's slot map from the node BREAKING_REDIS_URL names."""
    assert settings.redis_url is not None
    # Every key of this deployment lives in one slot: the rest of the cluster need not be up.
    return RedisCluster.from_url(settings.redis_url, require_full_coverage=False, **options)


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
