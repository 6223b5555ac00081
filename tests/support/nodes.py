"""Node fixtures for suites that need their own settings on both brokers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest

from tests.support.processes import RedisProcess, ServiceProcess, service_process


def node_fixtures(
    prefix: str,
    env: dict[str, str],
    *,
    scope: Literal["package", "module"] = "module",
    redis: str = "redis",
) -> tuple[Any, Any]:
    """Fixtures `{prefix}_memory_node` and `{prefix}_redis_node` (on the fixture `redis`
    names), both started with `env`; assign them to names in the module that uses them."""

    @pytest.fixture(scope=scope, name=f"{prefix}_memory_node")
    def memory_node() -> Iterator[ServiceProcess]:
        with service_process(env=env) as node:
            yield node

    @pytest.fixture(scope=scope, name=f"{prefix}_redis_node")
    def redis_node(request: pytest.FixtureRequest) -> Iterator[ServiceProcess]:
        server: RedisProcess = request.getfixturevalue(redis)
        with service_process(server.url, env=env) as node:
            yield node

    return memory_node, redis_node
