"""The desk shows the audit trail: each alert's history, and who retracted what."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import publish, sign_in, unique
from tests.support.processes import WIRE_TOKEN, ServiceProcess

pytestmark = pytest.mark.browser


def _as_wire(node: ServiceProcess, method: str, path: str, body: dict[str, str]) -> None:
    response = httpx.request(
        method, f"{node.url}{path}", json=body, headers={"Authorization": f"Bearer {WIRE_TOKEN}"}
    )
    assert response.status_code in (200, 201), response.text


def test_an_alerts_history_names_each_editor_and_headline(page: Page, site: ServiceProcess) -> None:
    first = publish(site, unique("Floods close the ring road"), regions=["europe"])
    fixed = f"{first['headline']} and the airport"
    _as_wire(site, "POST", f"/v1/alerts/{first['id']}/corrections", {"headline": fixed})
    sign_in(page, site)
    row = page.locator("#live-alerts tr", has_text=fixed)
    history = row.locator("details.audit")
    expect(history.locator("li")).to_be_hidden()
    history.get_by_text("History").click()
    lines = history.locator("li")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Corrected by wire at")
    expect(lines.nth(0)).to_contain_text(f"“{first['headline']}” → “{fixed}”")
    expect(lines.nth(1)).to_contain_text("Published by desk at")

    # An open history follows the alert's next change.
    again = f"{fixed}, reopened"
    row.get_by_role("button", name="Correct").click()
    page.get_by_label("Corrected headline").fill(again)
    page.get_by_role("button", name="Save correction").click()
    expect(lines).to_have_count(3)
    expect(lines.nth(0)).to_contain_text("Corrected by desk at")


def test_the_retracted_section_says_who_retracted(page: Page, site: ServiceProcess) -> None:
    ours = publish(site, unique("Retracted at the desk"), regions=["europe"])
    theirs = publish(site, unique("Retracted by the wire"), regions=["europe"])
    sign_in(page, site)
    page.locator("#live-alerts tr", has_text=ours["headline"]).get_by_role(
        "button", name="Retract"
    ).click()
    page.get_by_label("Reason for the retraction (optional)").fill("Not confirmed")
    page.get_by_role("button", name="Retract alert").click()
    _as_wire(site, "DELETE", f"/v1/alerts/{theirs['id']}", {"reason": "Duplicate"})

    mine = page.locator("#retracted li", has_text=ours["headline"])
    expect(mine).to_contain_text("Reason: Not confirmed")
    expect(mine.locator(".meta")).to_contain_text("by desk")
    other = page.locator("#retracted li", has_text=theirs["headline"])
    expect(other).to_contain_text("Reason: Duplicate")
    expect(other.locator(".meta")).to_contain_text("by wire")
    expect(page.locator("#retracted-title + p")).not_to_contain_text("not recorded")
