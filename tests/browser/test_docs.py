"""`/docs`: the API reference a developer reads, from the node itself, under the pages' CSP."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.browser


def test_docs_render_every_operation_from_this_node_only(page: Page, site: ServiceProcess) -> None:
    console: list[str] = []
    foreign: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith((site.url, "data:")):
            foreign.append(request.url)

    page.on("console", on_console)
    page.on("request", on_request)
    page.goto(site.url + "/docs")
    publish = page.locator("#operations-ingest-publishAlert")
    expect(publish).to_be_visible()
    expect(page.locator("#operations-subscribe-subscribeEvents")).to_be_visible()
    publish.locator("button.opblock-summary-control").click()
    expect(publish.get_by_text("Idempotency-Key", exact=True)).to_be_visible()
    # A Content-Security-Policy refusal or a failed load is a console error.
    assert console == []
    assert foreign == []
    headers = httpx.get(site.url + "/docs").headers
    assert "script-src 'self';" in headers["content-security-policy"]
