"""What the browser tests share: the real API calls they make around the pages."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.processes import ServiceProcess

# Every wait in this suite is bounded by this (milliseconds) unless a test says otherwise.
WAIT_MS = 5_000


def publish(node: ServiceProcess, headline: str, **fields: Any) -> dict[str, Any]:
    """Post an alert through the real ingest API and return its event."""
    body = {"regions": ["mena"], "language": "en", "headline": headline, **fields}
    response = httpx.post(
        f"{node.url}/v1/alerts", json=body, headers={"Authorization": f"Bearer {node.token}"}
    )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def live_alerts(node: ServiceProcess) -> list[dict[str, Any]]:
    """What `GET /v1/alerts` lists now."""
    response = httpx.get(f"{node.url}/v1/alerts", params={"limit": 100})
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return alerts
