"""The editors' door on both brokers: every error is problem+json and publishes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import publish, settle, sse_subscriber
from tests.support.processes import WIRE_TOKEN, RedisProcess, ServiceProcess, service_process

PROBLEM = "application/problem+json"


def _auth(node: ServiceProcess, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or node.token}"}


def _alert(**fields: Any) -> dict[str, Any]:
    return {"headline": "Valid headline", "regions": ["mena"], "language": "en", **fields}


async def _bad_requests(
    client: httpx.AsyncClient, node: ServiceProcess
) -> list[tuple[int, httpx.Response]]:
    """One request for each error status of the ingest API, with the status it must get."""
    url = f"{node.url}/v1/alerts"
    unknown = f"{url}/1-0"
    big = _alert(headline="x" * 200, source="y" * 20_000)
    return [
        (
            400,
            await client.post(
                url,
                content=b"{not json",
                headers={**_auth(node), "content-type": "application/json"},
            ),
        ),
        (401, await client.post(url, json=_alert())),
        (401, await client.post(url, json=_alert(), headers=_auth(node, "not-a-token"))),
        (
            403,
            await client.post(url, json=_alert(regions=["mena"]), headers=_auth(node, WIRE_TOKEN)),
        ),
        (
            404,
            await client.post(
                f"{unknown}/corrections", json={"headline": "x"}, headers=_auth(node)
            ),
        ),
        (404, await client.delete(unknown, headers=_auth(node))),
        (413, await client.post(url, json=big, headers=_auth(node))),
        (
            415,
            await client.post(
                url, content=b"headline=x", headers={**_auth(node), "content-type": "text/plain"}
            ),
        ),
        (
            422,
            await client.post(
                url, json={"headline": "", "regions": [], "language": "de"}, headers=_auth(node)
            ),
        ),
        (422, await client.post(url, json=_alert(url="ftp://example.org/x"), headers=_auth(node))),
        (422, await client.post(url, json=_alert(headline="two\nlines"), headers=_auth(node))),
        (422, await client.post(url, json=_alert(regions=["atlantis"]), headers=_auth(node))),
        (422, await client.post(url, json=[_alert()], headers=_auth(node))),
        (422, await client.post(url, json=_alert(extra="field"), headers=_auth(node))),
    ]


async def test_every_error_is_problem_json_and_publishes_nothing(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client, sse_subscriber(node) as everything:
        # The listing's largest page, so alerts of earlier tests on this node do not crowd it.
        page = {"limit": 500}
        before = (await client.get(f"{node.url}/v1/alerts", params=page)).json()["alerts"]
        for status, response in await _bad_requests(client, node):
            assert response.status_code == status, (status, response.text)
            assert response.headers["content-type"] == PROBLEM
            problem = response.json()
            assert problem["status"] == status
            assert problem["title"]
            assert problem["detail"]
        mark = await settle(client, node, everything)
        assert everything.ids == [mark]
        after = (await client.get(f"{node.url}/v1/alerts", params=page)).json()["alerts"]
        assert [a["id"] for a in after] == [mark, *(a["id"] for a in before)][:500]


async def test_422_lists_each_invalid_field(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{node.url}/v1/alerts",
            json={
                "headline": "x" * 281,
                "regions": [],
                "language": "de",
                "url": "javascript:alert(1)",
            },
            headers=_auth(node),
        )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"headline", "regions", "language", "url"}


async def test_401_names_the_scheme_and_403_names_the_regions(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        missing = await client.post(f"{node.url}/v1/alerts", json=_alert())
        scoped = await client.post(
            f"{node.url}/v1/alerts",
            json=_alert(regions=["europe", "asia"]),
            headers=_auth(node, WIRE_TOKEN),
        )
        allowed = await client.post(
            f"{node.url}/v1/alerts",
            json=_alert(regions=["europe"]),
            headers=_auth(node, WIRE_TOKEN),
        )
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert scoped.status_code == 403
    assert "asia" in scoped.json()["detail"]
    assert allowed.status_code == 201


async def test_idempotency_key_replays_the_first_answer(node: ServiceProcess) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = _alert(headline="Once only", regions=["asia-pacific"])
    async with httpx.AsyncClient() as client, sse_subscriber(node, region="asia-pacific") as sub:
        first = await client.post(
            f"{node.url}/v1/alerts", json=body, headers={**_auth(node), **key}
        )
        again = await client.post(
            f"{node.url}/v1/alerts", json=body, headers={**_auth(node), **key}
        )
        other = await client.post(
            f"{node.url}/v1/alerts",
            json={**body, "headline": "Changed"},
            headers={**_auth(node), **key},
        )
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert other.status_code == 422
        assert "Idempotency-Key" in other.json()["detail"]
        mark = await settle(client, node, sub, regions=("asia-pacific",))
        assert sub.ids == [first.json()["id"], mark]


async def test_listing_applies_corrections_and_drops_retracted_and_expired(
    node: ServiceProcess,
) -> None:
    tag = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient() as client:
        kept = await publish(
            client, node, f"{tag} kept", ("europe",), language="es", category="health"
        )
        fixed = await publish(client, node, f"{tag} typo", ("europe",), language="es")
        gone = await publish(client, node, f"{tag} wrong", ("europe",), language="es")
        await publish(client, node, f"{tag} short", ("europe",), language="es", ttl_seconds=1)
        correction = await client.post(
            f"{node.url}/v1/alerts/{fixed['id']}/corrections",
            json={"headline": f"{tag} fixed"},
            headers=_auth(node),
        )
        assert correction.status_code == 201
        assert (
            await client.delete(f"{node.url}/v1/alerts/{gone['id']}", headers=_auth(node))
        ).status_code == 200
        await asyncio.sleep(1.2)
        listing = await client.get(
            f"{node.url}/v1/alerts", params={"region": "europe", "language": "es"}
        )
        mine = [a for a in listing.json()["alerts"] if a["headline"].startswith(tag)]
        assert [(a["id"], a["headline"]) for a in mine] == [
            (fixed["id"], f"{tag} fixed"),
            (kept["id"], f"{tag} kept"),
        ]
        health = await client.get(
            f"{node.url}/v1/alerts", params={"category": "health", "limit": "1"}
        )
        assert [a["id"] for a in health.json()["alerts"]] == [kept["id"]]
        one = await client.get(f"{node.url}/v1/alerts/{fixed['id']}")
        assert one.json()["headline"] == f"{tag} fixed"
        assert (await client.get(f"{node.url}/v1/alerts/{gone['id']}")).status_code == 404
        retract_again = await client.delete(
            f"{node.url}/v1/alerts/{gone['id']}", headers=_auth(node)
        )
        assert retract_again.status_code == 404


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "many"}, {"region": "atlantis"}, {"priority": "urgent"}]
)
async def test_listing_rejects_bad_filters(node: ServiceProcess, query: dict[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{node.url}/v1/alerts", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited_node(request: pytest.FixtureRequest, redis: RedisProcess) -> Iterator[ServiceProcess]:
    redis_url = redis.url if request.param == "redis" else None
    # Its own key prefix, so this node's counters never meet the shared node's.
    env = {"BREAKING_PUBLISH_RATE_PER_MINUTE": "2", "BREAKING_KEY_PREFIX": "limited"}
    with service_process(redis_url, env=env) as node:
        yield node


async def test_429_with_retry_after_and_replays_do_not_count(limited_node: ServiceProcess) -> None:
    node = limited_node
    url = f"{node.url}/v1/alerts"
    keys = [{"Idempotency-Key": uuid.uuid4().hex} for _ in range(3)]
    async with httpx.AsyncClient() as client:
        unknown = await client.delete(f"{url}/1-0", headers=_auth(node))
        first = await client.post(url, json=_alert(), headers={**_auth(node), **keys[0]})
        second = await client.post(url, json=_alert(), headers={**_auth(node), **keys[1]})
        limited = await client.post(url, json=_alert(), headers={**_auth(node), **keys[2]})
        replay = await client.post(url, json=_alert(), headers={**_auth(node), **keys[0]})
    assert unknown.status_code == 404
    assert [first.status_code, second.status_code, limited.status_code] == [201, 201, 429]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["content-type"] == PROBLEM
    assert replay.status_code == 201
    assert replay.json() == first.json()


async def test_tokens_never_reach_the_logs(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        await publish(client, node, "logged?")
        await client.post(
            f"{node.url}/v1/alerts", json=_alert(), headers=_auth(node, "wrong-secret")
        )
    log = node.output()
    assert "by desk" in log
    for secret in (node.token, WIRE_TOKEN, "wrong-secret"):
        assert secret not in log


async def test_openapi_is_generated_from_the_models(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        schema = (await client.get(f"{node.url}/openapi.json")).json()
    paths = schema["paths"]
    assert {
        "/v1/alerts",
        "/v1/alerts/{alert_id}",
        "/v1/alerts/{alert_id}/corrections",
        "/v1/events",
        "/v1/ws",
    } <= set(paths)
    create = paths["/v1/alerts"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AlertIn"
    )
    assert {"201", "401", "422", "429"} <= set(create["responses"])
    alert_in = schema["components"]["schemas"]["AlertIn"]
    assert alert_in["properties"]["headline"]["maxLength"] == 280
    assert set(alert_in["required"]) == {"headline", "regions", "language"}
