"""What BREAKING_REDIS_URL gives a node under Sentinel: database, credentials and TLS, not where."""

from __future__ import annotations

from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from service.broker.redis_sentinel import SentinelLink, sentinel_client
from service.config import Settings


def _settings(url: str | None = None) -> Settings:
    return Settings(
        redis_sentinels=[("127.0.0.1", 26379)], redis_sentinel_master="news", redis_url=url
    )


async def test_tls_credentials_and_database_reach_the_primary_connections() -> None:
    settings = _settings("rediss://alice:s3cret@ignored.example:6380/3?ssl_ca_certs=/etc/ca.pem")
    client = sentinel_client(settings, socket_timeout=2)
    link = SentinelLink(client, settings, timeout=1)
    try:
        for pool, protocol in ((client.connection_pool, None), (link._pool, 2)):
            assert pool.connection_class is SentinelManagedSSLConnection
            options = pool.connection_kwargs
            assert (options["username"], options["password"]) == ("alice", "s3cret")
            assert (options["db"], options["ssl_ca_certs"]) == (3, "/etc/ca.pem")
            assert options.get("protocol") == protocol
            # The Sentinels say where the primary is: the URL's host and port are not used.
            assert "ignored.example" not in repr(options)
            assert "port" not in options
        assert (
            link.where
            == "primary 'news' via Sentinels 127.0.0.1:26379 (rediss://alice:***@ignored.example:6380/3?ssl_ca_certs=/etc/ca.pem)"
        )
    finally:
        await client.aclose()


async def test_without_a_url_the_primary_is_plain_tcp_database_0() -> None:
    client = sentinel_client(_settings())
    try:
        pool = client.connection_pool
        assert pool.connection_class is SentinelManagedConnection
        assert pool.connection_kwargs.get("db", 0) == 0
        assert pool.connection_kwargs.get("password") is None
    finally:
        await client.aclose()
