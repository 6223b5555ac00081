"""The push routes' contract: idempotent, validated, rate-limited, problem+json, off without a key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.push.conftest import VAPID_PUBLIC, push_env
from tests.push.pushservice import Browser
from tests.support.processes import ServiceProcess, service_process

SUBS = "/v1/push/subscriptions"


@pytest.fixture(scope="module")
def strict_node() -> Iterator[ServiceProcess]:
    """Push on with the production defaults: https endpoints only."""
    with service_process(env=push_env(BREAKING_PUSH_ALLOW_HTTP="false")) as node:
        yield node


@pytest.fixture(scope="module")
def limited_node() -> Iterator[ServiceProcess]:
    with service_process(env=push_env(BREAKING_PUSH_SUBSCRIBE_RATE_PER_MINUTE="3")) as node:
        yield node


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _browser(name: str) -> Browser:
    return Browser(f"https://push.invalid/send/{name}")


def test_push_is_off_without_a_key(memory_node: ServiceProcess) -> None:
    body = _problem(httpx.get(f"{memory_node.url}/v1/push/key"), 404)
    assert "BREAKING_VAPID_PRIVATE_KEY" in body["detail"]
    sub = {"subscription": _browser("off").subscription()}
    _problem(httpx.post(f"{memory_node.url}{SUBS}", json=sub), 404)


def test_key_is_the_public_half(strict_node: ServiceProcess) -> None:
    response = httpx.get(f"{strict_node.url}/v1/push/key")
    assert response.status_code == 200
    assert response.json() == {"public_key": VAPID_PUBLIC}


def test_subscribe_and_unsubscribe_are_idempotent(strict_node: ServiceProcess) -> None:
    browser = _browser("idem")
    body = {"subscription": browser.subscription(), "regions": ["mena"], "language": "ar"}
    first = httpx.post(f"{strict_node.url}{SUBS}", json=body)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "endpoint": browser.endpoint,
        "regions": ["mena"],
        "language": "ar",
        "category": None,
        "priority": "flash",
    }
    again = httpx.post(f"{strict_node.url}{SUBS}", json={**body, "priority": "breaking"})
    assert again.status_code == 200
    assert again.json()["priority"] == "breaking"
    for _ in range(2):
        gone = httpx.request(
            "DELETE", f"{strict_node.url}{SUBS}", json={"endpoint": browser.endpoint}
        )
        assert gone.status_code == 204
    assert httpx.post(f"{strict_node.url}{SUBS}", json=body).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.invalid/plain"}, "subscription.endpoint"),
        ({"endpoint": "ftp://push.invalid/x"}, "subscription.endpoint"),
        (
            {"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
            "subscription.keys.p256dh",
        ),
        ({"keys": {"p256dh": None, "auth": "x"}}, "subscription.keys.p256dh"),
        (
            {"keys": {"p256dh": "B" + "!" * 86, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
            "subscription.keys.p256dh",
        ),
    ],
)
def test_bad_subscription_is_422_and_changes_nothing(
    strict_node: ServiceProcess, change: dict[str, Any], field: str
) -> None:
    browser = _browser(f"bad-{field}")
    good = {"subscription": browser.subscription(), "regions": ["mena"]}
    assert httpx.post(f"{strict_node.url}{SUBS}", json=good).status_code in (200, 201)
    subscription = {**browser.subscription(), **change}
    if "endpoint" not in change:
        subscription["endpoint"] = browser.endpoint
    bad = {**good, "subscription": subscription}
    problem = _problem(httpx.post(f"{strict_node.url}{SUBS}", json=bad), 422)
    assert field in [error["field"] for error in problem["errors"]]
    # The stored subscription is untouched: posting it again is an update, not a new one.
    assert httpx.post(f"{strict_node.url}{SUBS}", json=good).status_code == 200


def test_bad_filters_and_bodies_are_problems(strict_node: ServiceProcess) -> None:
    url = f"{strict_node.url}{SUBS}"
    sub = _browser("filters").subscription()
    unknown = _problem(httpx.post(url, json={"subscription": sub, "regions": ["mars"]}), 422)
    assert "mars" in unknown["detail"]
    _problem(httpx.post(url, json={"subscription": sub, "priority": "urgent"}), 422)
    _problem(httpx.post(url, json={"regions": ["mena"]}), 422)
    _problem(httpx.post(url, json=[sub]), 422)
    _problem(httpx.post(url, content=b"{nope", headers={"content-type": "application/json"}), 400)
    _problem(httpx.post(url, content=b"endpoint=x"), 415)
    huge = {"subscription": sub, "padding": "x" * 20_000}
    _problem(httpx.post(url, json=huge), 413)
    _problem(httpx.request("DELETE", url, json={}), 422)


def test_subscription_calls_are_rate_limited_per_ip(limited_node: ServiceProcess) -> None:
    url = f"{limited_node.url}{SUBS}"
    for i in range(3):
        body = {"subscription": _browser(f"rate-{i}").subscription()}
        assert httpx.post(url, json=body).status_code == 201
    body = {"subscription": _browser("rate-over").subscription()}
    problem = _problem(response := httpx.post(url, json=body), 429)
    assert int(response.headers["retry-after"]) >= 1
    assert "a minute" in problem["detail"]


def test_openapi_documents_the_push_routes(strict_node: ServiceProcess) -> None:
    paths = httpx.get(f"{strict_node.url}/openapi.json").json()["paths"]
    assert set(paths["/v1/push/subscriptions"]) == {"post", "delete"}
    assert "get" in paths["/v1/push/key"]


def test_service_worker_is_served_at_the_root(strict_node: ServiceProcess) -> None:
    response = httpx.get(f"{strict_node.url}/push-sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in response.text
