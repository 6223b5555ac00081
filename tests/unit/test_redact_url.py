"""Masking credentials in a Redis URL before it is logged or shown."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import parse_url

from service.config import MASK, Settings, describe_redis, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        (
            "rediss://default:s3cret@cache.example:6380/1",
            "rediss://default:***@cache.example:6380/1",
        ),
        ("unix://:s3cret@/run/redis.sock?db=2", "unix://:***@/run/redis.sock?db=2"),
        (
            "rediss://cache.example/0?ssl_cert_reqs=required&password=s3cret&ssl_ca_certs=/ca.pem",
            "rediss://cache.example/0?ssl_cert_reqs=required&password=***&ssl_ca_certs=/ca.pem",
        ),
        (
            "unix:///run/redis.sock?db=0&ssl_password=s3cret",
            "unix:///run/redis.sock?db=0&ssl_password=***",
        ),
        # Escaped or not, everything up to the last `@` is the password.
        ("redis://:s3%40cret@host/0", "redis://:***@host/0"),
        ("redis://:s3c/ret?x#y@host/0", "redis://:***@host/0"),
        ("user:s3cret@host:6379", "user:***@host:6379"),
    ],
)
def test_credentials_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3c" not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://alice@cache.example:6380/0",  # an ACL user name is not a secret
        "redis://alice:@host/0",
        "unix:///run/redis.sock",
        "redis://host/0?ssl_cert_reqs=none&ssl_keyfile=/k.pem&socket_timeout=5",
        "redis://host/0?password=",
    ],
)
def test_urls_without_a_secret_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_the_masked_url_still_names_the_same_server() -> None:
    """An operator reading the log sees where the node connects, only not how it signs in."""
    url = "rediss://alice:s3cret@cache.example:6380/3?ssl_cert_reqs=none"
    original, masked = parse_url(url), parse_url(redact_url(url))
    assert masked.pop("password") == MASK
    assert original.pop("password") == "s3cret"
    assert masked == original


def test_the_sentinel_start_up_line_names_where_without_passwords() -> None:
    settings = Settings(
        redis_sentinels="sentinel-a:26379,[fd00::5]:26380",
        redis_sentinel_master="news",
        redis_sentinel_password="s3cret-of-the-sentinels",
        redis_url="rediss://:s3cret-of-the-data@/2?ssl_ca_certs=/ca.pem",
    )
    line = describe_redis(settings)
    assert line == (
        "Redis primary 'news' via Sentinels sentinel-a:26379,[fd00::5]:26380 "
        "(rediss://:***@/2?ssl_ca_certs=/ca.pem)"
    )
    assert "s3cret" not in line
