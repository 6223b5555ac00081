"""Redis through Sentinel: the primary is whichever server the Sentinels name at connect time.

redis-py's Sentinel support asks the Sentinels for the primary each time it opens a
connection, so the command client and the live subscription both follow a failover by
reconnecting. A connection still open to a demoted primary answers READONLY, which redis-py
turns into a dropped connection (and the Sentinels are asked again on the next one); Sentinel
itself closes every client of a server it demotes.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from service.config import Settings, describe_redis

# Asking a Sentinel is quick or the Sentinel is gone: the next one is tried.
_SENTINEL_TIMEOUT_S = 1.0


class _OwnSentinelPool(SentinelConnectionPool):
    """A pool that owns its Sentinel clients: closing it closes their connections too."""

    async def aclose(self) -> None:
        await super().aclose()
        await self.sentinel_manager.aclose()


def _sentinel(settings: Settings) -> Sentinel:
    password = settings.redis_sentinel_password
    options: dict[str, Any] = {
        "socket_timeout": _SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": _SENTINEL_TIMEOUT_S,
        "password": password.get_secret_value() if password else None,
    }
    return Sentinel(settings.redis_sentinels, sentinel_kwargs=options)  # type: ignore[no-untyped-call]


def _server_options(settings: Settings) -> dict[str, Any]:
    """What BREAKING_REDIS_URL adds under Sentinel: database, credentials, TLS; not where."""
    if not settings.redis_url:
        return {}
    options: dict[str, Any] = dict(parse_url(settings.redis_url))
    for where in ("host", "port", "path"):
        options.pop(where, None)
    connection_class = options.pop("connection_class", None)
    # SentinelConnectionPool picks its own connection class, TLS or not, from `ssl`.
    if connection_class is not None and issubclass(connection_class, SSLConnection):
        options["ssl"] = True
    return options


def sentinel_client(settings: Settings, **options: Any) -> Redis:
    """A client of the current primary; closing it closes its Sentinel connections too."""
    assert settings.redis_sentinel_master is not None
    client: Redis = _sentinel(settings).master_for(
        settings.redis_sentinel_master,
        connection_pool_class=_OwnSentinelPool,
        **_server_options(settings),
        **options,
    )
    return client


class SentinelLink:
    """Where the live subscription connects under Sentinel: plain pub/sub on the primary the
    Sentinels name when each connection is made (the reader backfills after every one)."""

    publish = "PUBLISH"
    subscribe = "SUBSCRIBE"
    message = b"message"

    def __init__(self, primary: Redis, settings: Settings, timeout: float) -> None:
        pool = primary.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        # The command client's Sentinels, so closing the client closes them once.
        self._pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
            pool.service_name,
            pool.sentinel_manager,
            **_server_options(settings),
            # RESP2: redis-py routes RESP3 pub/sub pushes to a handler instead of read_response.
            protocol=2,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        self._sentinels = describe_redis(settings).removeprefix("Redis ")
        # For logs: the Sentinels until a primary is found, then its address as well.
        self.where = self._sentinels

    async def connection(self) -> AbstractConnection:
        """An unconnected RESP2 connection, to the primary the Sentinels name now."""
        host, port = await self._pool.get_master_address()  # type: ignore[no-untyped-call]
        self.where = f"{host}:{port}, the {self._sentinels}"
        connection: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        return connection
