"""The browser client on paths that fail quietly: half-open links, blocked WebSocket, slow listings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.browser.helpers import WAIT_MS, item_of, publish, unique
from tests.browser.proxy import PageProxy, page_proxy
from tests.support.processes import ServiceProcess, service_process

pytestmark = pytest.mark.browser

_READY_MS = 1_500
# How long a node waits to catch up with a resume id ahead of it (service/subscribe.py).
_CATCH_UP_S = 5
# Chromium keeps up to six HTTP/1.1 connections per host.
_BROWSER_POOL = 6

# The page each test drives: a plain document the node serves (so the browser sees a loopback
# page talking to loopback), with the shipped client and ticker given the test's options.
_MOUNT = """async ([options]) => {
  const { BreakingClient } = await import("/static/breaking-client.js");
  await import("/static/breaking-ticker.js");
  const client = new BreakingClient(options);
  window.seen = { statuses: [], alerts: [], corrections: [], announced: [], heartbeats: 0 };
  client.addEventListener("status", (e) => window.seen.statuses.push(e.detail.status));
  client.addEventListener("alert", (e) => window.seen.alerts.push(e.detail.id));
  client.addEventListener("correction", (e) => window.seen.corrections.push(e.detail.id));
  client.addEventListener("heartbeat", () => window.seen.heartbeats++);
  const ticker = document.createElement("breaking-ticker");
  ticker.id = "probe";
  // Given before it is connected, so the ticker never starts a client of its own.
  ticker.client = client;
  document.body.append(ticker);
  const announcer = ticker.shadowRoot.querySelector('[aria-live="polite"]');
  new MutationObserver(() => window.seen.announced.push(announcer.textContent)).observe(
    announcer, { childList: true, characterData: true, subtree: true });
  window.client = client;
  client.start();
}"""


@pytest.fixture
def proxy(site: ServiceProcess) -> Iterator[PageProxy]:
    with page_proxy(site.port) as running:
        yield running


def _mount(page: Page, origin: str, **options: Any) -> Locator:
    """Open a blank page on `origin` and start a client and a ticker on it."""
    page.goto(f"{origin}/readyz")
    page.evaluate(_MOUNT, [options])
    return page.locator("#probe")


def _seen(page: Page, what: str) -> Any:
    return page.evaluate(f"window.seen.{what}")


def _correct(node: ServiceProcess, alert_id: str, headline: str) -> str:
    """Correct an alert through the real API; returns the correction's event id."""
    response = httpx.post(
        f"{node.url}/v1/alerts/{alert_id}/corrections",
        json={"headline": headline},
        headers={"Authorization": f"Bearer {node.token}"},
    )
    assert response.status_code == 201, response.text
    event_id: str = response.json()["id"]
    return event_id


@pytest.mark.parametrize("via", ["ws", "sse"])
def test_a_half_open_connection_is_noticed_and_nothing_is_lost(
    page: Page, site: ServiceProcess, proxy: PageProxy, via: str
) -> None:
    # The browser's pooled keep-alive sockets go quiet too, and a reconnect over SSE may be
    # sent on one of them: the ready timeout gives up on each such attempt in turn.
    ticker = _mount(page, proxy.url, transport=via, readyTimeoutMs=_READY_MS)
    expect(ticker).to_have_attribute("state", "live")
    expect(ticker).to_have_attribute("via", via)
    # The node's heartbeat (1 s in tests) sets how long a silence may last.
    page.wait_for_function("window.seen.heartbeats > 0")
    before = publish(site, unique("Before the link went quiet"))
    expect(item_of(ticker, before["id"])).to_be_visible()

    proxy.stall()
    during = publish(site, unique("Published while the link was quiet"))
    # Left "live" by itself (no error, no close ever reached the page), then came back.
    page.wait_for_function("window.seen.statuses.includes('reconnecting')")
    expect(ticker).to_have_attribute("state", "live", timeout=_BROWSER_POOL * _READY_MS + WAIT_MS)
    expect(item_of(ticker, during["id"])).to_be_visible()

    sentinel = publish(site, unique("After the reconnect"))
    expect(item_of(ticker, sentinel["id"])).to_be_visible()
    alerts = _seen(page, "alerts")
    assert [alerts.count(e["id"]) for e in (before, during, sentinel)] == [1, 1, 1]
    assert page.evaluate("window.client.transport") == via


@pytest.mark.parametrize("end_block", ["expiry", "online"])
def test_a_blocked_websocket_is_tried_again_later(
    page: Page, site: ServiceProcess, proxy: PageProxy, end_block: str
) -> None:
    proxy.refuse_websocket = True
    options = {"wsRetryMs": 1_000} if end_block == "expiry" else {}
    ticker = _mount(page, proxy.url, **options)
    expect(ticker).to_have_attribute("via", "sse")
    expect(ticker).to_have_attribute("state", "live")
    first = publish(site, unique("Read over SSE"))
    expect(item_of(ticker, first["id"])).to_be_visible()

    proxy.refuse_websocket = False
    if end_block == "online":
        page.context.set_offline(True)
        page.wait_for_function("!navigator.onLine")
        page.context.set_offline(False)
    expect(ticker).to_have_attribute("via", "ws")
    expect(ticker).to_have_attribute("state", "live")
    second = publish(site, unique("Read over WebSocket again"))
    expect(item_of(ticker, second["id"])).to_be_visible()
    alerts = _seen(page, "alerts")
    assert [alerts.count(e["id"]) for e in (first, second)] == [1, 1]


def test_a_websocket_slower_than_the_nodes_catch_up_wait_is_kept(page: Page) -> None:
    # A node waits up to 5 s for a resume id ahead of it before it says `ready`: a ready
    # timeout no longer than that took a lagging node for a blocked WebSocket. The proxy
    # holds back the node's pings too, so this node's heartbeat outlasts the delay.
    slow_s = _CATCH_UP_S + 1
    env = {"BREAKING_HEARTBEAT_SECONDS": str(slow_s)}
    with service_process(env=env) as node, page_proxy(node.port) as proxy:
        proxy.slow_ready_s = slow_s
        ticker = _mount(page, proxy.url)
        expect(ticker).to_have_attribute("state", "live", timeout=slow_s * 1000 + WAIT_MS)
        assert _seen(page, "statuses") == ["connecting", "live"]
        assert page.evaluate("window.client.transport") == "ws"


def _hold_first_listing(page: Page, origin: str) -> list[Route]:
    """The first `GET /v1/alerts` hangs (its route is never answered); later ones go through."""
    held: list[Route] = []

    def handle(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(lambda url: url.startswith(f"{origin}/v1/alerts?"), handle)
    return held


def test_a_first_paint_that_hangs_is_aborted_and_tried_again(
    page: Page, site: ServiceProcess
) -> None:
    listed = publish(site, unique("Only in the listing"))
    held = _hold_first_listing(page, site.url)
    with page.expect_event("requestfailed", lambda r: "/v1/alerts?" in r.url):
        ticker = _mount(page, site.url, firstPaintTimeoutMs=1_000)
    assert len(held) == 1
    expect(item_of(ticker, listed["id"])).to_be_visible()
    expect(ticker).to_have_attribute("state", "live")


def test_events_held_past_the_bound_reload_the_listing(page: Page, site: ServiceProcess) -> None:
    _hold_first_listing(page, site.url)
    ticker = _mount(page, site.url, heldMax=3, firstPaintTimeoutMs=60_000)
    # Live, so the listing is loading and whatever comes now is held.
    expect(ticker).to_have_attribute("state", "live")
    # Four events while the listing hangs: past the bound the client asks for a new one.
    with page.expect_event("requestfailed", lambda r: "/v1/alerts?" in r.url):
        burst = [publish(site, unique(f"Held {n}")) for n in range(4)]
    for event in burst:
        expect(item_of(ticker, event["id"])).to_have_count(1)
    sentinel = publish(site, unique("After the reload"))
    expect(item_of(ticker, sentinel["id"])).to_be_visible()
    for event in burst:
        expect(item_of(ticker, event["id"])).to_have_count(1)


def test_corrections_the_first_paint_already_shows_are_not_announced_again(
    page: Page, site: ServiceProcess
) -> None:
    alert = publish(site, unique("Said first"))
    second, right, later = unique("Said second"), unique("Said right"), unique("Said later")
    held = _hold_first_listing(page, site.url)
    with page.expect_websocket() as opened:
        ticker = _mount(page, site.url, firstPaintTimeoutMs=60_000)
    expect(ticker).to_have_attribute("state", "live")
    # Two corrections reach the client while its listing hangs: it holds them.
    _correct(site, alert["id"], second)
    with opened.value.expect_event("framereceived", lambda frame: right in str(frame)):
        _correct(site, alert["id"], right)
    held[0].continue_()
    expect(item_of(ticker, alert["id"]).locator(".headline")).to_have_text(right)

    # The listing already said both: only a correction made after it is news.
    sentinel = _correct(site, alert["id"], later)
    announcer = ticker.locator('[aria-live="polite"]')
    expect(announcer).to_have_text(f"Breaking: Corrected: {later}")
    assert _seen(page, "corrections") == [sentinel]
    announced = _seen(page, "announced")
    assert announced == [f"Breaking: Corrected: {later}"], json.dumps(announced)
