"""What the browser tests share: the real API calls around the pages, and the demo's tickers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

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


def unique(text: str) -> str:
    """The text with a random suffix, so tests sharing a node never see each other's alerts."""
    return f"{text} {uuid.uuid4().hex[:8]}"


def open_demo(page: Page, node: ServiceProcess, via: str = "ws") -> Locator:
    """Load `/` and wait until its top ticker is live and the page's raw log has loaded the
    live alerts; returns that ticker.

    The log's client goes live before its first GET /v1/alerts answers: an alert published
    in between arrives in that listing, not as an event of its own, so a test that looks for
    the event in the log waits for the listing first.
    """
    page.goto(node.url + "/")
    ticker = page.locator("#edition-ticker")
    expect(ticker).to_have_attribute("state", "live")
    expect(ticker).to_have_attribute("via", via)
    expect(page.locator('#log li[data-kind="reset"]').first).to_be_attached()
    return ticker


def sign_in(page: Page, node: ServiceProcess) -> None:
    """Open the desk and sign in with the node's editor token."""
    page.goto(node.url + "/desk")
    page.get_by_label("Editor token").fill(node.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#workspace")).to_be_visible()


def item_of(ticker: Locator, alert_id: str) -> Locator:
    """The item a ticker shows for one alert (the locator pierces its shadow root)."""
    return ticker.locator(f'li[data-alert-id="{alert_id}"]')


def add_ticker(
    page: Page,
    element_id: str,
    attributes: dict[str, str],
    alerts: list[dict[str, Any]] | None = None,
) -> Locator:
    """Put a `<breaking-ticker>` at the top of the page; `alerts` feed an `offline` one."""
    page.evaluate(
        """([id, attributes, alerts]) => {
          const ticker = document.createElement("breaking-ticker");
          ticker.id = id;
          for (const [name, value] of Object.entries(attributes)) ticker.setAttribute(name, value);
          document.body.prepend(ticker);
          if (alerts) ticker.alerts = alerts;
        }""",
        [element_id, attributes, alerts],
    )
    return page.locator(f"#{element_id}")
