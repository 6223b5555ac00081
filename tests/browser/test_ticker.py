"""`<breaking-ticker>` on the live demo page, fed by a real node."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.helpers import add_ticker, item_of, live_alerts, open_demo, publish, unique
from tests.support.processes import ServiceProcess, redis_process, service_process

pytestmark = pytest.mark.browser


def test_ticker_shows_a_posted_alert_where_its_filter_matches(
    page: Page, site: ServiceProcess
) -> None:
    ticker = open_demo(page, site)
    headline = unique("Several airlines cancel flights to and from Venezuela")
    event = publish(site, headline, regions=["latin-america"], url="https://news.example/venezuela")

    item = item_of(ticker, event["id"])
    expect(item).to_have_text(headline)
    expect(item.locator("a")).to_have_attribute("href", "https://news.example/venezuela")
    expect(
        item_of(page.locator('breaking-ticker[region="latin-america"]'), event["id"])
    ).to_be_visible()
    expect(item_of(page.locator('breaking-ticker[region="europe"]'), event["id"])).to_have_count(0)
    expect(page.locator("#log")).to_contain_text(headline)
    # Newest first: the alert just published leads the bar.
    expect(ticker.locator("li.item").first).to_have_attribute("data-alert-id", event["id"])


def test_hostile_markup_in_a_headline_is_shown_as_text_and_never_runs(
    page: Page, site: ServiceProcess
) -> None:
    ticker = open_demo(page, site)
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>'
    event = publish(site, hostile)

    item = item_of(ticker, event["id"])
    expect(item).to_have_text(hostile)
    expect(item.locator("img, script, b")).to_have_count(0)
    # The raw log shows the event JSON, markup included, as text too.
    expect(page.locator("#log")).to_contain_text("<script>window.__pwned=2</script>")
    expect(page.locator("#log img, #log script, #log b")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_arabic_is_laid_out_right_to_left(page: Page, site: ServiceProcess) -> None:
    open_demo(page, site)
    ticker = page.locator('breaking-ticker[data-edition="ar"]')
    headline = unique("الضالي: وفد قيادي من حماس يصل إلى القاهرة خلال الساعات المقبلة")
    event = publish(site, headline, regions=["palestine"], language="ar")

    item = item_of(ticker, event["id"])
    expect(item).to_have_text(headline)
    expect(ticker).to_have_attribute("dir", "rtl")
    expect(item).to_have_attribute("dir", "rtl")
    expect(item).to_have_attribute("lang", "ar")
    expect(ticker.locator(".label")).to_have_text("عاجل")
    assert item.evaluate("el => getComputedStyle(el).direction") == "rtl"
    track = ticker.locator(".track")
    assert track.evaluate("el => getComputedStyle(el).animationName") == "scroll-rtl"
    # The bar itself is mirrored: the label sits at the right-hand end.
    label_box = ticker.locator(".label").bounding_box()
    viewport_box = ticker.locator(".viewport").bounding_box()
    assert label_box is not None
    assert viewport_box is not None
    assert label_box["x"] > viewport_box["x"] + viewport_box["width"] - 1
    # An English ticker stays left-to-right.
    english = page.locator('breaking-ticker[data-edition="en"]')
    assert english.locator(".track").evaluate("el => getComputedStyle(el).animationName") == (
        "scroll-ltr"
    )


def test_edition_switch_refilters_the_top_ticker(page: Page, site: ServiceProcess) -> None:
    ticker = open_demo(page, site)
    spanish = publish(site, unique("Varias aerolíneas cancelan vuelos"), language="es")
    english = publish(site, unique("Airlines cancel flights"))
    expect(item_of(ticker, english["id"])).to_be_visible()

    page.get_by_role("button", name="Español").click()
    expect(item_of(ticker, spanish["id"])).to_be_visible()
    expect(item_of(ticker, english["id"])).to_have_count(0)
    expect(ticker.locator(".label")).to_have_text("Última hora")


def test_a_correction_replaces_the_text_and_a_retraction_removes_it(
    page: Page, site: ServiceProcess
) -> None:
    ticker = open_demo(page, site)
    event = publish(site, unique("White House: South Africa refuses a smooth G20 handover"))
    item = item_of(ticker, event["id"])
    expect(item).to_be_visible()
    item.evaluate("el => { el.dataset.marker = 'same-element'; }")

    corrected = unique("White House: South Africa used its G20 presidency to undermine the group")
    auth = {"Authorization": f"Bearer {site.token}"}
    response = httpx.post(
        f"{site.url}/v1/alerts/{event['id']}/corrections",
        json={"headline": corrected},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    expect(item.locator(".headline")).to_have_text(corrected)
    # Readers see that it changed, not only screen readers.
    expect(item.locator(".updated")).to_have_text("Updated")
    expect(item.locator(".updated")).to_be_visible()
    # Corrected in place: the same element, not a new item.
    expect(item).to_have_attribute("data-marker", "same-element")
    expect(ticker.get_by_text(event["headline"])).to_have_count(0)

    response = httpx.request(
        "DELETE", f"{site.url}/v1/alerts/{event['id']}", json={"reason": "wrong"}, headers=auth
    )
    assert response.status_code in (200, 201, 202), response.text
    expect(item).to_have_count(0)
    expect(item_of(page.locator('breaking-ticker[region="mena"]'), event["id"])).to_have_count(0)


def test_the_page_recovers_from_a_restart_and_shows_what_was_published_meanwhile(
    page: Page,
) -> None:
    with service_process() as node:
        ticker = open_demo(page, node)
        before = publish(node, unique("Published before the restart"))
        expect(item_of(ticker, before["id"])).to_be_visible()

        node.kill()
        expect(ticker).to_have_attribute("state", "reconnecting")
        # Offline, the page cannot reconnect before the next alert is out: it must catch up.
        page.context.set_offline(True)
        node.start()
        during = publish(node, unique("Published while the page was away"))
        page.context.set_offline(False)

        expect(ticker).to_have_attribute("state", "live", timeout=15_000)
        expect(item_of(ticker, during["id"])).to_be_visible()
        # The memory broker forgot everything: the reloaded list no longer has the old alert.
        assert [a["id"] for a in live_alerts(node)] == [during["id"]]
        expect(item_of(ticker, before["id"])).to_have_count(0)
        # The node answered the stale resume id with `reset`, and the page reloaded the list.
        expect(page.locator('#log li[data-kind="reset"]', has_text="server:")).to_have_count(1)
        after = publish(node, unique("Published after the page came back"))
        expect(item_of(ticker, after["id"])).to_be_visible()


def test_an_alert_published_on_another_node_while_this_one_is_down_appears_on_return(
    page: Page,
) -> None:
    """Two nodes on one Redis: the page's node dies, the desk posts through the other."""
    with (
        redis_process() as redis,
        service_process(redis.url) as other,
        service_process(redis.url) as node,
    ):
        ticker = open_demo(page, node)
        before = publish(other, unique("Published before the outage"))
        expect(item_of(ticker, before["id"])).to_be_visible()

        node.kill()
        expect(ticker).to_have_attribute("state", "reconnecting")
        during = publish(other, unique("Published while the page's node was down"))
        node.start()

        expect(ticker).to_have_attribute("state", "live", timeout=15_000)
        expect(item_of(ticker, during["id"])).to_be_visible()
        # Redis kept the history: the page resumed by id, so nothing was reset or lost.
        expect(item_of(ticker, before["id"])).to_be_visible()
        expect(page.locator('#log li[data-kind="reset"]', has_text="server:")).to_have_count(0)


def test_sse_takes_over_when_websocket_is_blocked(page: Page, site: ServiceProcess) -> None:
    attempts: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        # Like a proxy that drops the upgrade: the socket closes before the server says ready.
        attempts.append(ws.url)
        ws.close()

    page.route_web_socket(re.compile(r".*/v1/ws.*"), refuse)
    ticker = open_demo(page, site, via="sse")
    event = publish(site, unique("Delivered over Server-Sent Events"))
    expect(item_of(ticker, event["id"])).to_be_visible()
    expect(page.locator("#shared-state")).to_have_text("Live via SSE")
    assert attempts, "the page never tried WebSocket first"


def test_category_and_priority_filters_reach_the_node(page: Page, site: ServiceProcess) -> None:
    open_demo(page, site)
    sockets: list[str] = []
    listings: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: listings.append(r.url) if "/v1/alerts" in r.url else None)
    ticker = add_ticker(page, "sport-flashes", {"category": "sports", "priority": "flash"})
    expect(ticker).to_have_attribute("state", "live")
    minor = publish(site, unique("Half time"), category="sports", priority="update")
    other = publish(site, unique("Markets close"), category="economy", priority="flash")
    # Published last, the match is the sentinel: events arrive in id order, so once it shows,
    # the two before it would have shown too.
    flash = publish(site, unique("Final whistle"), category="sports", priority="flash")
    expect(item_of(ticker, flash["id"])).to_be_visible()
    expect(item_of(page.locator("#edition-ticker"), other["id"])).to_be_visible()
    expect(item_of(ticker, minor["id"])).to_have_count(0)
    expect(item_of(ticker, other["id"])).to_have_count(0)
    # The node filters (the ticker's own check is only a safety net): both requests carry them.
    assert any("category=sports&priority=flash" in url for url in sockets), sockets
    assert any("category=sports&priority=flash" in url for url in listings), listings


@pytest.mark.parametrize(
    ("language", "mark"), [("en", "Updated"), ("es", "Actualizado"), ("ar", "محدّث")]
)
def test_a_corrected_alert_is_marked_in_the_editions_language(
    page: Page, site: ServiceProcess, language: str, mark: str
) -> None:
    open_demo(page, site)
    corrected = {
        "id": "2-0", "type": "alert", "alert_id": "2-0", "headline": "Corrected text",
        "regions": ["mena"], "language": language, "priority": "breaking",
        "published_at": "2026-01-01T00:00:00.000Z", "expires_at": "2999-01-01T00:00:00.000Z",
        "corrected": True, "original_headline": "First text",
    }  # fmt: skip
    plain = {**corrected, "id": "1-0", "alert_id": "1-0", "corrected": False, "headline": "Plain"}
    ticker = add_ticker(page, "marked", {"offline": "", "language": language}, [corrected, plain])
    expect(item_of(ticker, "2-0").locator(".updated")).to_have_text(mark)
    expect(item_of(ticker, "2-0").locator(".updated")).to_be_visible()
    expect(item_of(ticker, "1-0").locator(".updated")).to_have_count(0)
