"""BREAKING_REDIS_MIN_REPLICAS_ACK: a 201 only once enough replicas hold the write.

Real processes: a private primary, one replica the test pauses (SIGSTOP), two nodes; on one
server, and on a Redis Cluster where the replica is that of the hash tag slot's primary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.support.clients import publish, settle, sse_subscriber
from tests.support.cluster import cluster_processes
from tests.support.processes import RedisProcess, ServiceProcess, redis_process, serving
from tests.support.sentinel import replica_process

ACK_ONE = {
    "BREAKING_REDIS_MIN_REPLICAS_ACK": "1",
    "BREAKING_REDIS_MIN_REPLICAS_ACK_TIMEOUT_MS": "200",
}
BODY = {"headline": "Unconfirmed", "regions": ["mena"], "language": "en"}
CLUSTER = {"BREAKING_REDIS_CLUSTER": "true", "BREAKING_KEY_PREFIX": "{acked}"}


@contextlib.contextmanager
def _replicated(topology: str) -> Iterator[tuple[str, RedisProcess, dict[str, str]]]:
    """The URL the nodes use, the replica of the primary that holds the alerts, and the nodes'
    environment: one server with a replica, or a cluster with a replica per primary."""
    if topology == "server":
        with redis_process() as primary, replica_process(primary) as replica:
            yield primary.url, replica, ACK_ONE
        return
    with cluster_processes(replicas=1) as cluster:
        primary = cluster.primary_of("{acked}:events")
        yield cluster.url, cluster.replica_of(primary), {**ACK_ONE, **CLUSTER}


async def _post(client: httpx.AsyncClient, node: ServiceProcess, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {node.token}", "Idempotency-Key": key}
    return await client.post(f"{node.url}/v1/alerts", json=BODY, headers=headers)


@pytest.mark.parametrize("topology", ["server", "cluster"])
async def test_a_write_replicas_do_not_confirm_is_503_and_its_retry_returns_it_once(
    topology: str,
) -> None:
    with _replicated(topology) as (url, replica, env):
        async with (
            serving(url, env=env) as one,
            serving(url, env=env) as two,
            httpx.AsyncClient() as client,
            sse_subscriber(one, region="mena") as sse,
        ):
            confirmed = await publish(client, one, "Confirmed")
            replica.pause()
            try:
                refused = await _post(client, one, "unconfirmed-1")
                # Another node, the replica still paused: the replay waits for the replicas
                # too, and so covers the first write, not only its own connection's.
                again = await _post(client, two, "unconfirmed-1")
            finally:
                replica.resume()
            retried = await _post(client, two, "unconfirmed-1")
            latest = await settle(client, one, sse)
            metrics = (await client.get(f"{one.url}/metrics")).text
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    detail = refused.json()["detail"]
    assert "may already have reached subscribers" in detail
    assert "same Idempotency-Key" in detail
    assert again.status_code == 503, again.text
    assert retried.status_code == 201, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    # Stored once, delivered once: the retry returned the write the refused request made.
    assert sse.ids == [confirmed["id"], retried.json()["id"], latest]
    assert "breaking_events_unreplicated_total 1.0" in metrics


async def test_without_an_idempotency_key_the_503_says_a_retry_publishes_again() -> None:
    with redis_process() as primary, replica_process(primary) as replica:
        async with serving(primary.url, env=ACK_ONE) as node, httpx.AsyncClient() as client:
            replica.pause()
            try:
                response = await client.post(
                    f"{node.url}/v1/alerts",
                    json=BODY,
                    headers={"Authorization": f"Bearer {node.token}"},
                )
            finally:
                replica.resume()
    assert response.status_code == 503
    assert "a retry without an Idempotency-Key publishes it again" in response.json()["detail"]
