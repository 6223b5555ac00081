"""The audit trail on both brokers: every published write once, with who, when and which
request; nothing for replays or refused writes; never in the public event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from service.broker.base import AuditNote, Broker, Draft
from service.broker.memory import MemoryBroker
from service.broker.redis import RedisBroker
from service.config import Settings
from service.events import stored_body
from service.models import AuditQuery
from tests.support.clients import sse_subscriber
from tests.support.processes import (
    EDITOR_TOKEN,
    WIRE_TOKEN,
    RedisProcess,
    ServiceProcess,
    serving,
)

PROBLEM = "application/problem+json"


def _auth(token: str = EDITOR_TOKEN, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def _post(
    client: httpx.AsyncClient,
    node: ServiceProcess,
    path: str,
    body: dict[str, Any],
    token: str = EDITOR_TOKEN,
    **headers: str,
) -> httpx.Response:
    return await client.post(f"{node.url}{path}", json=body, headers=_auth(token, **headers))


async def _alert(
    client: httpx.AsyncClient, node: ServiceProcess, headline: str, **headers: str
) -> dict[str, Any]:
    body = {"headline": headline, "regions": ["europe"], "language": "en"}
    response = await _post(client, node, "/v1/alerts", body, **headers)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


async def _audit(client: httpx.AsyncClient, node: ServiceProcess, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{node.url}/v1/audit", params=params, headers=_auth())
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_publish_correct_retract_by_two_editors(node: ServiceProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient() as client:
        published = await _alert(client, node, f"Quake {tag}", **{"X-Request-ID": f"pub-{tag}"})
        alert_id = published["id"]
        corrected = await _post(
            client,
            node,
            f"/v1/alerts/{alert_id}/corrections",
            {"headline": f"Quake {tag}, 5.1"},
            WIRE_TOKEN,
            **{"X-Request-ID": f"fix-{tag}"},
        )
        assert corrected.status_code == 201, corrected.text
        assert corrected.headers["x-request-id"] == f"fix-{tag}"
        retracted = await client.request(
            "DELETE",
            f"{node.url}/v1/alerts/{alert_id}",
            json={"reason": "unconfirmed"},
            headers=_auth(),
        )
        assert retracted.status_code == 200, retracted.text
        generated = retracted.headers["x-request-id"]
        assert generated

        entries = (await _audit(client, node, alert_id=alert_id))["entries"]

    assert [e["action"] for e in entries] == ["retract", "correct", "publish"]
    assert [e["editor"] for e in entries] == ["desk", "wire", "desk"]
    assert [e["event_id"] for e in entries] == [
        retracted.json()["id"],
        corrected.json()["id"],
        alert_id,
    ]
    assert [e["request_id"] for e in entries] == [generated, f"fix-{tag}", f"pub-{tag}"]
    assert [(e["headline_before"], e["headline_after"]) for e in entries] == [
        (f"Quake {tag}, 5.1", None),
        (f"Quake {tag}", f"Quake {tag}, 5.1"),
        (None, f"Quake {tag}"),
    ]
    assert [e["reason"] for e in entries] == ["unconfirmed", None, None]
    assert {e["alert_id"] for e in entries} == {alert_id}
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times, reverse=True)
    assert entries[-1]["at"] == published["published_at"]


async def test_filters_and_pages(node: ServiceProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient() as client:
        first = await _alert(client, node, f"First {tag}")
        since = first["published_at"]
        others = [await _alert(client, node, f"Next {tag} {i}") for i in range(4)]
        fix = await _post(
            client, node, f"/v1/alerts/{first['id']}/corrections", {"headline": "x"}, WIRE_TOKEN
        )
        assert fix.status_code == 201, fix.text
        by_desk = [event["id"] for event in reversed([first, *others])]

        pages: list[list[dict[str, Any]]] = []
        params: dict[str, Any] = {"editor": "desk", "since": since, "limit": 2}
        while True:
            page = await _audit(client, node, **params)
            pages.append(page["entries"])
            if page["next_before"] is None:
                break
            params["before"] = page["next_before"]
        wire = await _audit(client, node, editor="wire", since=since)
        late = await _audit(client, node, since="2999-01-01T00:00:00Z")

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [e["alert_id"] for page in pages for e in page] == by_desk
    assert [e["event_id"] for e in wire["entries"]] == [fix.json()["id"]]
    assert late == {"entries": [], "next_before": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-24T15:00:00"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"before": "abc"}, "before"),
        ({"alert_id": "1-0; DROP"}, "alert_id"),
        ({"editor": "x" * 201}, "editor"),
    ],
)
async def test_bad_queries_are_400_problems(
    node: ServiceProcess, params: dict[str, str], field: str
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{node.url}/v1/audit", params=params, headers=_auth())
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_needs_an_editor_token(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        missing = await client.get(f"{node.url}/v1/audit")
        wrong = await client.get(f"{node.url}/v1/audit", headers=_auth("not-a-token"))
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM


async def test_request_ids_given_sane_or_made(node: ServiceProcess) -> None:
    async with httpx.AsyncClient() as client:
        long = await _post(client, node, "/v1/alerts", {}, **{"X-Request-ID": "x" * 129})
        kept = await _post(client, node, "/v1/alerts", {}, **{"X-Request-ID": "a" * 128})
        refused = await _post(client, node, "/v1/alerts", {}, "bad-token")
    assert long.status_code == kept.status_code == 422
    assert refused.status_code == 401
    assert kept.headers["x-request-id"] == "a" * 128
    made = {long.headers["x-request-id"], refused.headers["x-request-id"]}
    assert len(made) == 2
    assert all(0 < len(rid) <= 128 for rid in made)


async def test_replays_and_refused_writes_add_no_entry(node: ServiceProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    key = {"Idempotency-Key": f"once-{tag}"}
    async with httpx.AsyncClient() as client:
        first = await _alert(client, node, f"Once {tag}", **key)
        replay = await _post(
            client,
            node,
            "/v1/alerts",
            {"headline": f"Once {tag}", "regions": ["europe"], "language": "en"},
            **key,
        )
        conflict = await _post(
            client,
            node,
            "/v1/alerts",
            {"headline": f"Other {tag}", "regions": ["europe"], "language": "en"},
            **key,
        )
        invalid = await _post(
            client, node, f"/v1/alerts/{first['id']}/corrections", {"headline": ""}
        )
        unknown = await _post(client, node, "/v1/alerts/1-0/corrections", {"headline": "x"})
        forbidden = await _post(
            client,
            node,
            "/v1/alerts",
            {"headline": f"Mena {tag}", "regions": ["mena"], "language": "en"},
            WIRE_TOKEN,
        )
        # A sentinel after the refused writes: the audit is read once it is in.
        sentinel = await _alert(client, node, f"Sentinel {tag}")
        entries = (await _audit(client, node, since=first["published_at"]))["entries"]

    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert [conflict.status_code, invalid.status_code] == [422, 422]
    assert [unknown.status_code, forbidden.status_code] == [404, 403]
    assert [e["event_id"] for e in entries] == [sentinel["id"], first["id"]]


async def test_rate_limited_writes_add_no_entry(redis: RedisProcess, backend: str) -> None:
    redis_url = redis.url if backend == "redis" else None
    env = {"BREAKING_PUBLISH_RATE_PER_MINUTE": "2", "BREAKING_KEY_PREFIX": uuid.uuid4().hex}
    async with serving(redis_url, env=env) as node, httpx.AsyncClient() as client:
        first = await _alert(client, node, "One")
        await _alert(client, node, "Two")
        limited = await _post(
            client,
            node,
            "/v1/alerts",
            {"headline": "Three", "regions": ["europe"], "language": "en"},
        )
        entries = (await _audit(client, node))["entries"]
    assert limited.status_code == 429
    assert [e["headline_after"] for e in entries] == ["Two", "One"]
    assert entries[-1]["event_id"] == first["id"]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_audit_survives_a_restart_on_redis(redis: RedisProcess) -> None:
    env = {"BREAKING_KEY_PREFIX": f"audit-{uuid.uuid4().hex}"}
    async with serving(redis.url, env=env) as node, httpx.AsyncClient() as client:
        published = await _alert(client, node, "Before the restart")
        fix = await _post(
            client, node, f"/v1/alerts/{published['id']}/corrections", {"headline": "Fixed"}
        )
        assert fix.status_code == 201, fix.text
        before = await _audit(client, node)
    async with serving(redis.url, env=env) as node, httpx.AsyncClient() as client:
        after = await _audit(client, node)
    assert [e["action"] for e in before["entries"]] == ["correct", "publish"]
    assert after == before


async def test_no_editor_in_public_payloads(node: ServiceProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient() as client, sse_subscriber(node, region="europe") as feed:
        published = await _alert(client, node, f"Public {tag}")
        fix = await _post(
            client,
            node,
            f"/v1/alerts/{published['id']}/corrections",
            {"headline": f"Public {tag}!"},
            WIRE_TOKEN,
        )
        listing = await client.get(f"{node.url}/v1/alerts", params={"region": "europe"})
        one = await client.get(f"{node.url}/v1/alerts/{published['id']}")
        await feed.wait_id(fix.json()["id"])
    bodies = [published, fix.json(), listing.json(), one.json(), *feed.events]
    for body in bodies:
        text = str(body)
        assert "desk" not in text
        assert "wire" not in text
        assert "editor" not in text
        assert "request_id" not in text


async def test_retention_keeps_at_least_the_newest(redis: RedisProcess, backend: str) -> None:
    settings = Settings(
        redis_url=redis.url if backend == "redis" else None,
        key_prefix=f"audit-{uuid.uuid4().hex}",
        audit_size=10,
    )
    broker: Broker = MemoryBroker(settings) if backend == "memory" else RedisBroker(settings)
    try:
        ids: list[str] = []
        for i in range(30):
            body: dict[str, Any] = {"type": "alert", "headline": f"n{i}", "regions": ["mena"]}
            body |= {"language": "en"}
            body |= {"priority": "breaking", "ttl": 60}
            draft = Draft("alert", stored_body(body), ttl_ms=60_000)
            ids.append((await broker.publish(draft, audit=AuditNote("desk", f"r{i}"))).event.id)
        unaudited = await broker.publish(draft)
        kept = (await broker.audit(AuditQuery(limit=500))).entries
    finally:
        await broker.close()
    newest = list(reversed(ids))
    assert 10 <= len(kept) <= 30
    assert [e.event_id for e in kept] == newest[: len(kept)]
    assert unaudited.event.id not in {e.event_id for e in kept}
    if backend == "memory":
        assert len(kept) < 20
