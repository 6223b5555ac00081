"""What BREAKING_REDIS_URL gives a node under Sentinel: database, credentials and TLS, not where."""

from __future__ import annotations

from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from service.broker.redis_sentinel import sentinel_pool
from service.config import Settings


def _settings(url: str | None = None) -> Settings:
    return Settings(
        redis_sentinels=[("127.0.0.1", 26379)], redis_sentinel_master="news", redis_url=url
    )


async def test_tls_credentials_and_database_reach_the_primary_connections() -> None:
    url = "rediss://alice:s3cret@ignored.example:6380/3?ssl_ca_certs=/etc/ca.pem"
    pool = sentinel_pool(_settings(url), protocol=2)
    try:
        assert pool.connection_class is SentinelManagedSSLConnection
        options = pool.connection_kwargs
        assert (options["username"], options["password"], options["db"]) == ("alice", "s3cret", 3)
        assert options["ssl_ca_certs"] == "/etc/ca.pem"
        assert options["protocol"] == 2
        # The Sentinels say where the primary is: the URL's host and port are not used.
        assert "ignored.example" not in repr(options)
        assert "port" not in options
    finally:
        await pool.aclose()


async def test_without_a_url_the_primary_is_plain_tcp_database_0() -> None:
    pool = sentinel_pool(_settings())
    try:
        assert pool.connection_class is SentinelManagedConnection
        assert pool.connection_kwargs.get("db", 0) == 0
        assert pool.connection_kwargs.get("password") is None
    finally:
        await pool.aclose()
