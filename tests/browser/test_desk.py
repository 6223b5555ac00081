"""The editor desk (`/desk`) driving the real ingest API."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import live_alerts, publish, sign_in, unique
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.browser


def _live_row(page: Page, text: str) -> Locator:
    return page.locator("#live-alerts tr", has_text=text)


def test_the_desk_publishes_corrects_and_retracts_through_the_api(
    page: Page, site: ServiceProcess
) -> None:
    sign_in(page, site)
    assert site.token not in page.url
    assert page.evaluate("sessionStorage.getItem('breaking-push.editor-token')") == site.token

    headline = unique("Al-Dali: a Hamas delegation arrives in Cairo within hours")
    page.get_by_label("Headline").fill(headline)
    page.get_by_label("Palestine").check()
    page.get_by_label("Category").select_option("politics")
    page.get_by_label("Priority").select_option("flash")
    page.get_by_label("Source").fill("Correspondent in Cairo")
    page.get_by_label("Link").fill("https://news.example/cairo")
    expect(page.locator("#preview li.item")).to_have_text(headline)
    expect(page.locator("#headline-count")).to_have_text(f"{len(headline)} / 280")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#compose-notice")).to_contain_text("Published")

    [alert] = [a for a in live_alerts(site) if a["headline"] == headline]
    assert alert["regions"] == ["palestine"]
    assert (alert["priority"], alert["category"]) == ("flash", "politics")
    assert alert["url"] == "https://news.example/cairo"
    row = _live_row(page, headline)
    expect(row).to_be_visible()

    corrected = f"{headline} (corrected)"
    row.get_by_role("button", name="Correct").click()
    page.get_by_label("Corrected headline").fill(corrected)
    page.get_by_role("button", name="Save correction").click()
    expect(row.locator(".headline-text")).to_have_text(corrected)
    assert [a["headline"] for a in live_alerts(site) if a["id"] == alert["id"]] == [corrected]

    row.get_by_role("button", name="Retract").click()
    page.get_by_label("Reason for the retraction (optional)").fill("unconfirmed")
    page.get_by_role("button", name="Retract alert").click()
    expect(row).to_have_count(0)
    assert alert["id"] not in [a["id"] for a in live_alerts(site)]

    # The token lives for the tab: a reload keeps the editor signed in, sign-out forgets it.
    page.reload()
    expect(page.locator("#workspace")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_each_field_error_is_shown_once_beside_its_field_in_plain_words(
    page: Page, site: ServiceProcess
) -> None:
    sign_in(page, site)
    before = live_alerts(site)
    page.get_by_label("Link").fill("ftp://files.example/x")
    page.get_by_role("button", name="Publish").click()

    expect(page.locator("#error-headline")).to_have_text("Write a headline.")
    expect(page.locator("#error-regions")).to_have_text("Choose at least one region.")
    expect(page.locator("#error-url")).to_have_text(
        "Give a full web address starting with http:// or https://, or leave it empty."
    )
    expect(page.get_by_label("Headline")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Headline")).to_be_focused()
    notice = page.locator("#compose-notice")
    expect(notice).to_have_text("Nothing was published: correct the fields marked below.")
    # Once each, and never in the API's words.
    text = page.locator("#compose").inner_text()
    assert text.count("Choose at least one region.") == 1
    for jargon in ("Unprocessable", "List should have", "validation", "regions:"):
        assert jargon not in text
    assert live_alerts(site) == before

    # Changing a field takes its error away.
    page.get_by_label("Palestine").check()
    expect(page.locator("#error-regions")).to_be_hidden()
    page.get_by_label("Headline").fill("x" * 281)
    expect(page.locator("#headline-count")).to_have_text("281 / 280")
    expect(page.locator("#headline-count")).to_have_attribute("data-level", "over")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#error-headline")).to_have_text(
        "Shorten the headline to 280 characters or fewer."
    )
    assert live_alerts(site) == before


def test_after_a_publish_the_form_returns_to_defaults_and_a_retraction_clears_the_notice(
    page: Page, site: ServiceProcess
) -> None:
    sign_in(page, site)
    headline = unique("Defaults come back after publishing")
    page.get_by_label("Headline").fill(headline)
    page.get_by_label("Europe").check()
    page.get_by_label("Category").select_option("sports")
    page.get_by_label("Priority").select_option("flash")
    page.get_by_label("Runs for").select_option("900")
    page.get_by_label("Source").fill("Wire")
    page.get_by_role("button", name="Publish").click()
    notice = page.locator("#compose-notice")
    expect(notice).to_contain_text("Published")
    expect(page.get_by_label("Headline")).to_have_value("")
    expect(page.get_by_label("Category")).to_have_value("")
    expect(page.get_by_label("Priority")).to_have_value("breaking")
    expect(page.get_by_label("Runs for")).to_have_value("21600")
    expect(page.get_by_label("Source")).to_have_value("")
    # Regions stay by the editor's choice (the box is ticked by default).
    expect(page.get_by_label("Europe")).to_be_checked()

    row = _live_row(page, headline)
    row.get_by_role("button", name="Retract").click()
    page.get_by_label("Reason for the retraction (optional)").fill("Wrong match result")
    page.get_by_role("button", name="Retract alert").click()
    expect(notice).to_be_hidden()
    retracted = page.locator("#retracted li", has_text=headline)
    expect(retracted).to_contain_text("Reason: Wrong match result")
    expect(retracted).to_contain_text("Retracted at")

    page.get_by_label("Keep these regions for the next alert").uncheck()
    page.get_by_label("Headline").fill(unique("Regions cleared on request"))
    page.get_by_role("button", name="Publish").click()
    expect(notice).to_contain_text("Published")
    expect(page.get_by_label("Europe")).not_to_be_checked()


def test_a_corrected_alert_shows_a_badge_and_its_original_on_demand(
    page: Page, site: ServiceProcess
) -> None:
    first = publish(site, unique("Minister resigns"))
    fixed = f"{first['headline']} (deputy minister)"
    sign_in(page, site)
    row = _live_row(page, first["headline"])
    row.get_by_role("button", name="Correct").click()
    page.get_by_label("Corrected headline").fill(fixed)
    page.get_by_role("button", name="Save correction").click()
    row = _live_row(page, fixed)
    expect(row.locator(".badge")).to_have_text("Corrected")
    original = row.locator(".original")
    expect(original).to_be_hidden()
    row.get_by_text("Show the original headline").click()
    expect(original).to_have_text(first["headline"])

    # A desk opened later learns the original from the listing.
    page.reload()
    row = _live_row(page, fixed)
    expect(row.locator(".badge")).to_have_text("Corrected")
    row.get_by_text("Show the original headline").click()
    expect(row.locator(".original")).to_have_text(first["headline"])


def test_an_unknown_token_is_refused(page: Page, site: ServiceProcess) -> None:
    page.goto(site.url + "/desk")
    page.get_by_label("Editor token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("Unauthorized")
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_desk_shows_live_subscriber_counts(page: Page, site: ServiceProcess) -> None:
    sign_in(page, site)
    total = page.locator("#stats-total")
    expect(total).to_have_text(re.compile(r"^[1-9]\d*$"))
    before = int(total.inner_text())  # at least the desk's own feed
    # The demo page adds two: its top ticker and the connection its grids share.
    demo = page.context.new_page()
    demo.goto(site.url + "/")
    expect(demo.locator("#edition-ticker")).to_have_attribute("state", "live")
    expect(total).to_have_text(str(before + 2), timeout=8_000)
