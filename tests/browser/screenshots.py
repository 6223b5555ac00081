"""Regenerate docs/screenshots/ (the demo and the desk, desktop and phone, with realistic alerts).

Run: .venv/bin/python -m tests.browser.screenshots
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers import publish
from tests.support.processes import ServiceProcess, service_process

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Oldest first; headlines in the style of the site's own BREAKING bar.
ALERTS: list[dict[str, Any]] = [
    {
        "headline": "Iraq: attack targets US convoy in Dhi Qar",
        "regions": ["mena"],
        "priority": "update",
        "category": "politics",
    },
    {
        "headline": "Irak: atacan un convoy logístico de Estados Unidos en Dhi Qar",
        "regions": ["mena"],
        "language": "es",
    },
    {
        "headline": "US White House: South Africa refuses to facilitate a smooth transition of the "
        "G20 presidency",
        "regions": ["us-canada", "africa"],
        "category": "politics",
    },
    {
        "headline": "البيت الأبيض: جنوب أفريقيا استغلت رئاستها لمجموعة العشرين لتقويض مبادئها التأسيسية",
        "regions": ["africa", "us-canada"],
        "language": "ar",
    },
    {
        "headline": "Al Mayadeen's correspondent in Caracas: Several airlines are canceling flights "
        "to and from Venezuela until further notice",
        "regions": ["latin-america"],
        "source": "Correspondent in Caracas",
        "url": "https://news.example/venezuela-flights",
    },
    {
        "headline": "Corresponsal en Caracas: varias aerolíneas cancelan vuelos hacia y desde "
        "Venezuela hasta nuevo aviso",
        "regions": ["latin-america"],
        "language": "es",
    },
    {
        "headline": "Al-Rashq: Reports that Hamas told Witkoff the agreement has ended are false",
        "regions": ["palestine", "mena"],
        "category": "politics",
    },
    {
        "headline": "الضالي: وفد قيادي من حماس برئاسة خليل الحية يصل إلى القاهرة خلال الساعات المقبلة",
        "regions": ["palestine", "mena"],
        "language": "ar",
        "priority": "flash",
    },
    {
        "headline": "Al-Dali: A Hamas leadership delegation, headed by Khalil al-Hayya, will arrive "
        "in Cairo within the next few hours",
        "regions": ["palestine", "mena"],
        "priority": "flash",
        "url": "https://news.example/cairo-delegation",
    },
]


def _seed(node: ServiceProcess) -> None:
    events = [publish(node, **alert) for alert in ALERTS]
    auth = {"Authorization": f"Bearer {node.token}"}
    first = events[0]["id"]
    httpx.post(
        f"{node.url}/v1/alerts/{first}/corrections",
        json={"headline": "Iraq: attack targets US logistics convoy in Dhi Qar, southern Iraq"},
        headers=auth,
    ).raise_for_status()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with service_process() as node, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # Reduced motion holds every ticker at its start, so the shots show whole headlines.
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, reduced_motion="reduce", device_scale_factor=1
        )
        demo = context.new_page()
        demo.goto(node.url + "/")
        expect(demo.locator("#edition-ticker")).to_have_attribute("state", "live")
        _seed(node)
        english = [a for a in ALERTS if a.get("language", "en") == "en"]
        expect(demo.locator("#edition-ticker li.item")).to_have_count(len(english))
        demo.screenshot(path=OUT / "demo.png", full_page=True)

        desk = context.new_page()
        desk.goto(node.url + "/desk")
        desk.get_by_label("Editor token").fill(node.token)
        desk.get_by_role("button", name="Sign in").click()
        desk.get_by_label("Headline").fill(
            "Al-Dali: Palestinian factions will take part in the national meetings in Cairo"
        )
        desk.get_by_label("Palestine").check()
        desk.get_by_label("Middle East & North Africa").check()
        desk.get_by_label("Category").select_option("politics")
        desk.get_by_label("Source").fill("Correspondent in Cairo")
        # Two connections from the demo tab, one from the desk's own live list.
        expect(desk.locator("#stats-total")).to_have_text("3", timeout=10_000)
        expect(desk.locator("#live-alerts tr")).to_have_count(len(ALERTS))
        # A retraction while the desk is open, so its Retracted section shows one.
        wrong = publish(node, "Reports of a second convoy attack in Basra", regions=["mena"])
        expect(desk.locator("#live-alerts tr")).to_have_count(len(ALERTS) + 1)
        httpx.request(
            "DELETE",
            f"{node.url}/v1/alerts/{wrong['id']}",
            json={"reason": "Not confirmed by a second source"},
            headers={"Authorization": f"Bearer {node.token}"},
        ).raise_for_status()
        expect(desk.locator("#retracted li")).to_have_count(1)
        desk.locator("#live-alerts details").first.evaluate("details => { details.open = true; }")
        desk.screenshot(path=OUT / "desk.png", full_page=True)

        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            reduced_motion="reduce",
            device_scale_factor=1,
            is_mobile=True,
        )
        demo_phone = phone.new_page()
        demo_phone.goto(node.url + "/")
        expect(demo_phone.locator("#edition-ticker")).to_have_attribute("state", "live")
        demo_phone.screenshot(path=OUT / "demo-phone.png")
        desk_phone = phone.new_page()
        desk_phone.goto(node.url + "/desk")
        desk_phone.get_by_label("Editor token").fill(node.token)
        desk_phone.get_by_role("button", name="Sign in").click()
        expect(desk_phone.locator("#live-alerts tr")).to_have_count(len(ALERTS))
        desk_phone.locator("#live-alerts").scroll_into_view_if_needed()
        desk_phone.screenshot(path=OUT / "desk-phone.png")
        browser.close()
    print(f"wrote demo.png, desk.png, demo-phone.png and desk-phone.png in {OUT}")


if __name__ == "__main__":
    main()
