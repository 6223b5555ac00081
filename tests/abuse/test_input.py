"""Input that breaks other consumers is refused by name; every error is problem+json; no Host reflection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.abuse.attacks import connect, read_answer
from tests.support.clients import sse_subscriber
from tests.support.processes import ServiceProcess, service_process

ALERT = {"regions": ["mena"], "language": "en"}


def _post(node: ServiceProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{node.url}/v1/alerts",
        json=body,
        headers={"Authorization": f"Bearer {node.token}"},
        timeout=5,
    )


@pytest.mark.parametrize(
    ("char", "named"),
    [
        ("\u0085", "U+0085"),
        ("\u009b", "U+009B"),
        ("\u2028", "LINE SEPARATOR"),
        ("\u2029", "PARAGRAPH SEPARATOR"),
        ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("\u202a", "LEFT-TO-RIGHT EMBEDDING"),
        ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
        ("\u2069", "POP DIRECTIONAL ISOLATE"),
    ],
)
def test_disruptive_characters_are_refused_by_name(
    guarded_node: ServiceProcess, char: str, named: str
) -> None:
    response = _post(guarded_node, {**ALERT, "headline": f"Quake{char}hits"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]
    alert = _post(guarded_node, {**ALERT, "headline": "To be corrected"}).json()
    correction = httpx.post(
        f"{guarded_node.url}/v1/alerts/{alert['alert_id']}/corrections",
        json={"headline": f"x{char}y"},
        headers={"Authorization": f"Bearer {guarded_node.token}"},
    )
    assert correction.status_code == 422


async def test_joiners_stay_and_the_headline_arrives_unchanged(
    guarded_node: ServiceProcess,
) -> None:
    headline = "عاجل\u200d 👩\u200d👩\u200d👧 family"
    async with sse_subscriber(guarded_node, region="mena") as sse:
        response = _post(guarded_node, {**ALERT, "headline": headline})
        assert response.status_code == 201, response.text
        await sse.wait_id(response.json()["id"])
    assert sse.events[-1]["headline"] == headline


@pytest.mark.parametrize("ttl", ["60", True, 60.5])
def test_ttl_is_strictly_an_integer(guarded_node: ServiceProcess, ttl: object) -> None:
    response = _post(guarded_node, {**ALERT, "headline": "Strict", "ttl_seconds": ttl})
    assert response.status_code == 422
    assert "ttl_seconds" in response.json()["detail"]


def test_a_foreign_origin_preflight_is_a_problem(guarded_node: ServiceProcess) -> None:
    response = httpx.options(
        f"{guarded_node.url}/v1/alerts",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


def test_the_trailing_slash_redirect_does_not_reflect_host(guarded_node: ServiceProcess) -> None:
    with connect(guarded_node.port) as sock:
        sock.sendall(b"GET /desk/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        answer = read_answer(sock)
    assert 300 <= answer.status < 400
    assert answer.headers["location"] == "/desk"


@pytest.mark.parametrize(
    "path", ["/v1/alerts", "/healthz", "/static/breaking-client.js", "/nothing"]
)
def test_answers_carry_nosniff(guarded_node: ServiceProcess, path: str) -> None:
    response = httpx.get(f"{guarded_node.url}{path}")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts_refuse_other_hosts_with_a_problem() -> None:
    with service_process(env={"BREAKING_ALLOWED_HOSTS": "127.0.0.1,news.example"}) as node:
        assert httpx.get(f"{node.url}/healthz").status_code == 200
        refused = httpx.get(f"{node.url}/healthz", headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"


def test_a_websocket_upgrade_elsewhere_is_a_problem(guarded_node: ServiceProcess) -> None:
    with connect(guarded_node.port, "127.0.12.1") as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = read_answer(sock)
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "/v1/ws" in answer.body.decode()
