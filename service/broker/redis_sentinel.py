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
from redis.asyncio.connection import ConnectionPool, SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from service.config import Settings

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


def sentinel_pool(settings: Settings, **options: Any) -> ConnectionPool:
    """A pool whose connections go to the primary the Sentinels name when each is opened."""
    assert settings.redis_sentinel_master is not None
    return _OwnSentinelPool(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master,
        _sentinel(settings),
        **_server_options(settings),
        **options,
    )


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
