"""How `<breaking-ticker>` behaves for readers: links, expiry, motion, pausing, screen readers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import add_ticker, item_of, open_demo, publish, unique
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.browser


def _alert(alert_id: str, headline: str, expires_in: float = 60, **fields: Any) -> dict[str, Any]:
    now = time.time()
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    return {
        "id": alert_id,
        "type": "alert",
        "alert_id": alert_id,
        "headline": headline,
        "regions": ["mena"],
        "language": "en",
        "priority": "breaking",
        "published_at": time.strftime(iso, time.gmtime(now)),
        "expires_at": time.strftime(iso, time.gmtime(now + expires_in)),
        **fields,
    }


def _style(locator: Locator, prop: str) -> str:
    value: str = locator.evaluate(f"el => getComputedStyle(el)[{json.dumps(prop)}]")
    return value


def test_only_http_links_are_followed(page: Page, site: ServiceProcess) -> None:
    open_demo(page, site)
    probe = add_ticker(
        page,
        "probe",
        {"offline": ""},
        [
            _alert("2-0", "bad link", url="javascript:alert(1)"),
            _alert("1-0", "good link", url="https://a.example/"),
        ],
    )
    expect(item_of(probe, "2-0")).to_have_text("bad link")
    expect(item_of(probe, "2-0").locator("a")).to_have_count(0)
    expect(item_of(probe, "1-0").locator("a")).to_have_attribute("href", "https://a.example/")


def test_expired_alerts_drop_off_on_their_own(page: Page, site: ServiceProcess) -> None:
    ticker = open_demo(page, site)
    short = publish(site, unique("Runs for two seconds"), ttl_seconds=2)
    lasting = publish(site, unique("Runs for the day"))
    expect(item_of(ticker, short["id"])).to_be_visible()
    # Nothing is published meanwhile: the ticker's own expiry timer removes it.
    expect(item_of(ticker, short["id"])).to_have_count(0)
    expect(item_of(ticker, lasting["id"])).to_be_visible()


def test_it_pauses_on_hover_on_focus_and_on_request(page: Page, site: ServiceProcess) -> None:
    ticker = open_demo(page, site)
    event = publish(site, unique("Pausable headline"), url="https://news.example/p")
    expect(item_of(ticker, event["id"])).to_be_visible()
    track = ticker.locator(".track")
    assert _style(track, "animationPlayState") == "running"

    ticker.locator(".viewport").hover()
    assert _style(track, "animationPlayState") == "paused"
    page.mouse.move(5, 700)
    assert _style(track, "animationPlayState") == "running"

    # Keyboard: from the masthead, Tab lands on the newest headline's link and holds it still.
    page.locator("header nav a[href='/desk']").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.shadowRoot?.activeElement?.textContent")
    assert focused == event["headline"]
    assert _style(track, "animationPlayState") == "paused"

    ticker.get_by_role("button", name="Pause").click()
    expect(ticker).to_have_attribute("paused", "")
    expect(ticker.get_by_role("button", name="Play")).to_have_attribute("aria-pressed", "true")
    assert _style(track, "animationPlayState") == "paused"


def test_reduced_motion_stops_the_scroll(page: Page, site: ServiceProcess) -> None:
    page.emulate_media(reduced_motion="reduce")
    ticker = open_demo(page, site)
    event = publish(site, unique("Still headline"))
    expect(item_of(ticker, event["id"])).to_be_in_viewport()
    assert _style(ticker.locator(".track"), "animationName") == "none"
    expect(ticker.get_by_role("button", name="Pause")).to_be_hidden()


def test_screen_readers_get_one_polite_announcement_per_alert(
    page: Page, site: ServiceProcess
) -> None:
    ticker = open_demo(page, site)
    marquee = ticker.get_by_role("marquee", name="Breaking news")
    expect(marquee).to_be_attached()
    # The moving text itself is not a live region: it would be read out again and again.
    assert marquee.get_attribute("aria-live") is None
    event = publish(site, unique("Announced once"))
    announcer = ticker.locator('[aria-live="polite"]')
    expect(announcer).to_have_text(f"Breaking: {event['headline']}")
    expect(ticker.get_by_role("status")).to_have_text("Live")
