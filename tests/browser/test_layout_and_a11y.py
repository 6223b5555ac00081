"""Phones and assistive technology: no sideways scrolling at 390 px, every desk control
reachable, and no serious or critical axe-core violation on any page or an embedded ticker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.helpers import WAIT_MS, publish, sign_in, unique
from tests.support.processes import ServiceProcess, service_process

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized tab; CSP bypassed only so the test can inject axe-core."""
    context: BrowserContext = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, bypass_csp=True
    )
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def _with_history(node: ServiceProcess) -> None:
    """A corrected alert (a badge), a retracted one, and a long unbroken headline."""
    auth = {"Authorization": f"Bearer {node.token}"}
    fixed = publish(node, unique("Ceasefire talks resume in Cairo"), regions=["mena", "europe"])
    httpx.post(
        f"{node.url}/v1/alerts/{fixed['id']}/corrections",
        json={"headline": fixed["headline"] + " after a week"},
        headers=auth,
    ).raise_for_status()
    publish(
        node, "Unbroken" + "x" * 120, category="arts-culture", source="Correspondent in Caracas"
    )


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    width: int = page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - innerWidth"
    )
    return width


_UNREACHABLE = """(root) => {
  const problems = [];
  for (const control of root.querySelectorAll("input, select, textarea, button, summary")) {
    if (!control.checkVisibility()) continue;
    control.scrollIntoView({ block: "center", inline: "center" });
    const box = control.getBoundingClientRect();
    const name = control.id || control.getAttribute("aria-label") || control.textContent.trim() || control.outerHTML.slice(0, 60);
    if (box.width < 1 || box.height < 1) { problems.push(`${name}: no size`); continue; }
    if (box.left < 0 || box.right > innerWidth + 0.5) { problems.push(`${name}: off screen (${box.left}..${box.right})`); continue; }
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (!hit || !(hit === control || control.contains(hit) || hit.contains(control) || hit.control === control)) {
      problems.push(`${name}: covered by ${hit?.outerHTML.slice(0, 60)}`);
    }
  }
  return problems;
}"""


def _axe(page: Page) -> list[dict[str, Any]]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser-deps`")
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, { resultTypes: ['violations'] })"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


class _NewsSite:
    """A news site on its own origin (http://localhost:<port>) serving pages the test writes."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def story(self, page: Page, node: ServiceProcess) -> str:
        """A story page embedding `node`'s ticker with the snippet its demo page shows."""
        page.goto(node.url + "/")
        snippet = page.locator("#embed-snippet").inner_text()
        path = f"/story-{node.port}.html"
        self.pages[path] = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Story</title>'
            f"</head><body><header>{snippet}</header><main><h1>A story</h1>"
            "<p>The news site's own text.</p></main></body></html>"
        ).encode()
        return self.origin + path


@pytest.fixture(scope="module")
def news_site() -> Iterator[_NewsSite]:
    site = _NewsSite()
    site.thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


@pytest.fixture(scope="module")
def embedding_node(news_site: _NewsSite) -> Iterator[ServiceProcess]:
    """A node that allows the news site's origin."""
    with service_process(env={"BREAKING_ALLOWED_ORIGINS": news_site.origin}) as node:
        yield node


def test_the_demo_fits_a_phone_and_passes_axe(phone: Page, site: ServiceProcess) -> None:
    _with_history(site)
    phone.goto(site.url + "/")
    expect(phone.locator("#edition-ticker")).to_have_attribute("state", "live")
    expect(phone.locator("#region-grid breaking-ticker")).to_have_count(8)
    assert _overflow(phone) == 0
    assert _axe(phone) == []


def test_the_signed_out_desk_fits_a_phone_and_passes_axe(phone: Page, site: ServiceProcess) -> None:
    phone.goto(site.url + "/desk")
    expect(phone.get_by_label("Editor token")).to_be_visible()
    assert _overflow(phone) == 0
    assert phone.evaluate(_UNREACHABLE, phone.locator("#signin").element_handle()) == []
    assert _axe(phone) == []


@pytest.mark.parametrize("width", [390, 320])
def test_every_desk_control_is_reachable_on_a_phone(
    phone: Page, site: ServiceProcess, width: int
) -> None:
    _with_history(site)
    phone.set_viewport_size({"width": width, "height": 844})
    sign_in(phone, site)
    expect(phone.locator("#live-alerts tr").first).to_be_visible()
    expect(phone.locator("#live-alerts .badge").first).to_be_visible()
    # Open a correction form too: its field and buttons must fit as well.
    phone.locator("#live-alerts tr").first.get_by_role("button", name="Correct").click()
    expect(phone.get_by_label("Corrected headline")).to_be_visible()
    assert _overflow(phone) == 0
    workspace = phone.locator("#workspace").element_handle()
    assert phone.evaluate(_UNREACHABLE, workspace) == []
    assert _overflow(phone) == 0


def test_the_signed_in_desk_passes_axe(phone: Page, site: ServiceProcess) -> None:
    _with_history(site)
    sign_in(phone, site)
    expect(phone.locator("#live-alerts .badge").first).to_be_visible()
    expect(phone.locator("#stats-total")).not_to_have_text("\u2013")
    # A refused publish, so the field errors are checked too.
    phone.get_by_role("button", name="Publish").click()
    expect(phone.locator("#error-headline")).to_be_visible()
    assert _axe(phone) == []


def test_an_embedded_ticker_fits_a_phone_and_passes_axe(
    phone: Page, news_site: _NewsSite, embedding_node: ServiceProcess
) -> None:
    event = publish(embedding_node, unique("Embedded on a news site"), language="ar")
    story = news_site.story(phone, embedding_node)
    phone.goto(story)
    ticker = phone.locator("breaking-ticker")
    # The module ran (so its SRI hash matched) and connected from the other origin.
    expect(ticker).to_have_attribute("state", "live")
    expect(ticker.locator(f'li[data-alert-id="{event["id"]}"]')).to_be_visible()
    assert _overflow(phone) == 0
    assert _axe(phone) == []


def test_a_ticker_on_a_site_the_node_refuses_says_why(
    phone: Page, news_site: _NewsSite, site: ServiceProcess
) -> None:
    messages: list[str] = []
    phone.on("console", lambda message: messages.append(message.text))
    story = news_site.story(phone, site)
    phone.goto(story)
    ticker = phone.locator("breaking-ticker")
    expect(ticker).to_have_attribute("state", "refused", timeout=10_000)
    expect(ticker.locator(".state")).to_have_text("غير مسموح على هذا الموقع")
    origin = news_site.origin
    explained = [m for m in messages if "BREAKING_ALLOWED_ORIGINS" in m]
    assert len(explained) == 1
    assert f"refuses this page's origin ({origin})" in explained[0]
