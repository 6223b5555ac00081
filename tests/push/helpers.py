"""The push routes as a browser calls them, with every subscription removed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.push.pushservice import Browser
from tests.support.processes import ServiceProcess


@dataclass
class Subscriber:
    """Subscribes browsers to one node; `unsubscribe_all` leaves the node as it was."""

    client: httpx.AsyncClient
    node: ServiceProcess
    endpoints: list[str] = field(default_factory=list)

    async def subscribe(self, browser: Browser, **filters: Any) -> httpx.Response:
        body = {"subscription": browser.subscription(), **filters}
        response = await self.client.post(f"{self.node.url}/v1/push/subscriptions", json=body)
        assert response.status_code in (200, 201), response.text
        self.endpoints.append(browser.endpoint)
        return response

    async def unsubscribe_all(self) -> None:
        for endpoint in self.endpoints:
            response = await self.client.request(
                "DELETE", f"{self.node.url}/v1/push/subscriptions", json={"endpoint": endpoint}
            )
            assert response.status_code == 204, response.text


@asynccontextmanager
async def subscriber(node: ServiceProcess) -> AsyncIterator[Subscriber]:
    async with httpx.AsyncClient(timeout=5) as client:
        subscriber = Subscriber(client, node)
        try:
            yield subscriber
        finally:
            await subscriber.unsubscribe_all()


async def publish(node: ServiceProcess, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Post an alert as the desk (flash to mena unless told otherwise)."""
    body = {"headline": "Breaking", "regions": ["mena"], "language": "en", "priority": "flash"}
    response = await client.post(
        f"{node.url}/v1/alerts",
        json={**body, **fields},
        headers={"Authorization": f"Bearer {node.token}"},
    )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event
