"""Which Redis the node runs on: one server, a primary the Sentinels name, or a Cluster.

Everything that differs between them is chosen here, once: the command client, the key
prefix, the link the live subscription connects through, and the connection a publish and
its WAIT share. The broker and the Web Push
store above it are the same code on all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool, parse_url
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError

from service.broker.redis_cluster import ShardLink, cluster_client, script_and_wait
from service.broker.redis_sentinel import SentinelLink, sentinel_client
from service.config import Settings

Client = Redis | RedisCluster
# The cluster client raises RedisClusterException, which is no RedisError, when no node answers.
UNAVAILABLE = (RedisError, RedisClusterException)


class Link(Protocol):
    """Where the live subscription connects, and the commands it speaks there."""

    publish: str
    subscribe: str
    message: bytes
    # For logs: where Redis is, without credentials.
    where: str

    async def connection(self) -> AbstractConnection:
        """A new, unconnected connection; the reader connects, uses and closes it."""
        ...


def key_prefix(settings: Settings) -> str:
    """The prefix of every key: in cluster mode a hash tag, unless the prefix holds one.

    Standalone deployments keep the plain prefix, so their existing keys stay theirs.
    """
    prefix = settings.key_prefix
    if not settings.redis_cluster:
        return prefix
    start = prefix.find("{")
    if start >= 0 and prefix.find("}", start + 1) > start + 1:
        return prefix
    return f"{{{prefix}}}"


def client(settings: Settings, **options: Any) -> Client:
    """The command client: a RedisCluster that follows the slot map, a client of the primary
    the Sentinels name, or a plain Redis."""
    if settings.redis_sentinels:
        return sentinel_client(settings, **options)
    if settings.redis_cluster:
        return cluster_client(settings, **options)
    assert settings.redis_url is not None
    return Redis.from_url(settings.redis_url, **options)


def link(redis: Client, settings: Settings, channel: str, timeout: float) -> Link:
    """The live subscription's link for the client `client()` made."""
    if isinstance(redis, RedisCluster):
        return ShardLink(redis, channel, timeout)
    if settings.redis_sentinels:
        return SentinelLink(redis, settings, timeout)
    assert settings.redis_url is not None
    return ServerLink(settings.redis_url, timeout)


async def publish_and_wait(
    redis: Client,
    script: AsyncScript,
    keys: Sequence[str],
    args: Sequence[bytes | str | int],
    replicas: int,
    timeout_ms: int,
) -> tuple[Any, int]:
    """The publish script's reply, and how many replicas acknowledged its writes.

    WAIT counts the writes of the connection it runs on, so it follows the script on that
    connection (one pipeline), never as a second call that a pool may route elsewhere.
    """
    if isinstance(redis, RedisCluster):
        return await script_and_wait(redis, script, keys, args, (replicas, timeout_ms))
    async with redis.pipeline(transaction=False) as pipe:
        await script(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        reply, acknowledged = await pipe.execute()
    return reply, int(acknowledged)


class ServerLink:
    """Where the live subscription connects on one Redis server: plain pub/sub.

    Its connections come from redis-py's own URL handling, so rediss:// and unix:// work as
    they do for the client; each is made and closed by the reader.
    """

    publish = "PUBLISH"
    subscribe = "SUBSCRIBE"
    message = b"message"

    def __init__(self, url: str, timeout: float) -> None:
        # RESP2: redis-py routes RESP3 pub/sub pushes to a handler instead of read_response.
        options: dict[str, Any] = {**parse_url(url), "protocol": 2}
        options |= {"socket_connect_timeout": timeout, "socket_timeout": timeout}
        self._pool = ConnectionPool(**options)
        self.where = (
            options.get("path") or f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
        )
        # An option redis-py rejects (a bad ssl_cert_reqs, say) stops the node at start, not
        # the reader later with the node silently unready.
        self._pool.make_connection()  # type: ignore[no-untyped-call]

    async def connection(self) -> AbstractConnection:
        connection: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        return connection
