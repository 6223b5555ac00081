"""Failed sign-ins are throttled per client address: 429 with Retry-After after a burst."""

from __future__ import annotations

import httpx

from tests.abuse.conftest import PROXY, SIGNIN_PER_MINUTE, honest_traffic_flows, metric
from tests.support.processes import ServiceProcess

ALERT = {"headline": "Guess", "regions": ["mena"], "language": "en"}


def _client(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=5)


async def test_wrong_tokens_get_429_after_a_burst_and_others_still_publish(
    guarded_node: ServiceProcess,
) -> None:
    url = f"{guarded_node.url}/v1/alerts"
    with _client("127.0.7.1") as attacker:
        statuses = [
            attacker.post(url, json=ALERT, headers={"Authorization": f"Bearer guess-{i:012d}"})
            for i in range(SIGNIN_PER_MINUTE + 5)
        ]
        assert [r.status_code for r in statuses[:SIGNIN_PER_MINUTE]] == [401] * SIGNIN_PER_MINUTE
        throttled = statuses[SIGNIN_PER_MINUTE:]
        assert {r.status_code for r in throttled} == {429}
        assert throttled[0].headers["content-type"] == "application/problem+json"
        assert int(throttled[0].headers["retry-after"]) >= 1
        assert "failed sign-ins" in throttled[0].json()["detail"]
        # Even the right token is not compared while the address is throttled.
        right = {"Authorization": f"Bearer {guarded_node.token}"}
        assert attacker.post(url, json=ALERT, headers=right).status_code == 429
        # Public routes stay open to it.
        assert attacker.get(f"{guarded_node.url}/v1/alerts").status_code == 200
    # Another address (the desk) publishes as usual.
    await honest_traffic_flows(guarded_node)
    assert metric(guarded_node, "breaking_signin_failures_total") >= SIGNIN_PER_MINUTE
    refused = 'breaking_refusals_total{reason="signin_throttled"}'
    assert metric(guarded_node, refused) >= 6


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(
    guarded_node: ServiceProcess,
) -> None:
    url = f"{guarded_node.url}/v1/alerts"
    with _client(PROXY) as proxy:
        for _ in range(SIGNIN_PER_MINUTE + 1):
            last = proxy.post(
                url,
                json=ALERT,
                headers={
                    "Authorization": "Bearer wrong-token-000000",
                    "X-Forwarded-For": "192.0.2.1",
                },
            )
        assert last.status_code == 429
        other = proxy.post(
            url,
            json=ALERT,
            headers={"Authorization": "Bearer wrong-token-000000", "X-Forwarded-For": "192.0.2.2"},
        )
        assert other.status_code == 401
