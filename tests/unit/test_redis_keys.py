"""Redis key names: unchanged on one server, under one hash tag on a Redis Cluster."""

from __future__ import annotations

import pytest

from service.broker.redis_topology import key_prefix
from service.config import Settings

URL = "redis://127.0.0.1:7000/0"


def test_one_server_keeps_the_plain_prefix() -> None:
    """Existing standalone deployments keep their key names (history, live alerts, push)."""
    assert key_prefix(Settings(redis_url=URL)) == "breaking"
    assert key_prefix(Settings(redis_url=URL, key_prefix="{news}")) == "{news}"


@pytest.mark.parametrize(
    ("prefix", "tagged"),
    [
        ("breaking", "{breaking}"),
        ("newsroom-eu", "{newsroom-eu}"),
        # The operator's own tag is kept: Redis hashes only what the first braces hold.
        ("{news}", "{news}"),
        ("app:{news}:push", "app:{news}:push"),
        # Empty braces are no tag to Redis (the whole key would be hashed): wrapped.
        ("app{}", "{app{}}"),
    ],
)
def test_a_cluster_puts_every_key_under_one_hash_tag(prefix: str, tagged: str) -> None:
    settings = Settings(redis_url=URL, redis_cluster=True, key_prefix=prefix)
    assert key_prefix(settings) == tagged
