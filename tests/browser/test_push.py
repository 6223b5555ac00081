"""The demo page's "Notify me" in Chromium: service worker, subscribe call, the push it shows.

Chromium's own push service is not reachable here, so `pushManager.subscribe` is stubbed in
the page with a subscription whose keys the test holds (pointing at the local push service);
the node's real push is decrypted there, then handed to the service worker over CDP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import WAIT_MS, open_demo, publish, unique
from tests.push.conftest import VAPID_PUBLIC, push_env
from tests.push.pushservice import Browser, Push, PushService
from tests.support.processes import ServiceProcess, service_process

pytestmark = pytest.mark.browser

# Replaces PushManager's subscribe/getSubscription with ones that hand back `window.__browser`.
_STUB = """
window.__subscribeCalls = [];
PushManager.prototype.subscribe = async function (options) {
  const key = new Uint8Array(options.applicationServerKey);
  window.__subscribeCalls.push({ userVisibleOnly: options.userVisibleOnly, key: Array.from(key) });
  const json = window.__browser;
  window.__subscribed = {
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: async () => { window.__subscribed = null; return true; },
  };
  return window.__subscribed;
};
PushManager.prototype.getSubscription = async function () { return window.__subscribed || null; };
"""


@pytest.fixture(scope="module")
def pushes() -> Iterator[PushService]:
    """The local push service on its own loop in a thread: Playwright's sync API owns this one."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    service = PushService(VAPID_PUBLIC)
    asyncio.run_coroutine_threadsafe(service.start(), loop).result(5)
    try:
        yield service
    finally:
        asyncio.run_coroutine_threadsafe(service.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture(scope="module")
def push_site() -> Iterator[ServiceProcess]:
    with service_process(env=push_env()) as node:
        yield node


def _until(condition: Callable[[], Any]) -> Any:
    value = _until_within(condition, WAIT_MS / 1000)
    assert value, "timed out"
    return value


def _until_within(condition: Callable[[], Any], seconds: float) -> Any:
    """The condition's first truthy value within `seconds`, else its last (falsy) one."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def _notifications(page: Page) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = page.evaluate(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          const shown = await registration.getNotifications();
          return shown.map((n) => ({ title: n.title, tag: n.tag, dir: n.dir, lang: n.lang, data: n.data }));
        }"""
    )
    return shown


def test_notify_me_subscribes_and_the_worker_shows_the_push(
    page: Page, push_site: ServiceProcess, pushes: PushService
) -> None:
    browser: Browser = pushes.browser("chromium")
    page.context.grant_permissions(["notifications"], origin=push_site.url)
    page.add_init_script(f"window.__browser = {json.dumps(browser.subscription())};\n{_STUB}")
    session = page.context.new_cdp_session(page)
    # A push delivered before the worker is activated is dropped, and the notification never
    # shows (this test failed that way about once in ten full runs): wait for activation.
    activated: list[str] = []
    session.on(
        "ServiceWorker.workerVersionUpdated",
        lambda update: activated.extend(
            v["registrationId"] for v in update["versions"] if v["status"] == "activated"
        ),
    )
    session.send("ServiceWorker.enable")

    open_demo(page, push_site)
    page.locator('.editions button[data-edition="ar"]').click()
    notify = page.locator("#notify")
    expect(notify).to_be_visible()
    notify.click()
    expect(notify).to_have_attribute("aria-pressed", "true")
    calls = page.evaluate("window.__subscribeCalls")
    assert len(calls) == 1
    assert calls[0]["userVisibleOnly"] is True
    assert bytes(calls[0]["key"]) == _raw(VAPID_PUBLIC)

    headline = unique("عاجل: وقف إطلاق النار في غزة")
    event = publish(
        push_site, headline, language="ar", priority="flash", url="https://news.example/ar/1"
    )
    push: Push = _until(lambda: pushes.received("chromium"))[0]
    assert push.message["headline"] == headline
    assert not pushes.refused

    origin = push_site.url
    registration = _until(lambda: activated)[-1]
    deliver = {"origin": origin, "registrationId": registration, "data": json.dumps(push.message)}

    def delivered() -> list[dict[str, Any]]:
        # DevTools' delivery is not acknowledged and may be dropped while the worker starts:
        # deliver again until it shows. The alert's tag makes a second one replace the first.
        session.send("ServiceWorker.deliverPushMessage", deliver)
        shown: list[dict[str, Any]] = _until_within(lambda: _notifications(page), 1.0)
        return shown

    shown = _until(delivered)
    assert shown == [
        {
            "title": headline,
            "tag": event["alert_id"],
            "dir": "rtl",
            "lang": "ar",
            "data": {
                "url": "https://news.example/ar/1",
                "alert_id": event["alert_id"],
                "type": "alert",
            },
        }
    ]

    # A correction replaces the notification (same tag) and keeps the alert's link.
    correction = {**push.message, "type": "correction", "headline": "عاجل: هدنة", "url": None}
    session.send("ServiceWorker.deliverPushMessage", {**deliver, "data": json.dumps(correction)})
    replaced = _until(lambda: [n for n in _notifications(page) if n["title"] == "عاجل: هدنة"])
    assert len(_notifications(page)) == 1
    assert replaced[0]["data"]["url"] == "https://news.example/ar/1"

    retraction = {"type": "retraction", "id": "0-1", "alert_id": event["alert_id"]}
    session.send("ServiceWorker.deliverPushMessage", {**deliver, "data": json.dumps(retraction)})
    _until(lambda: not _notifications(page))

    # A second click unsubscribes: the node forgets the endpoint.
    notify.click()
    expect(notify).to_have_attribute("aria-pressed", "false")


def _raw(key: str) -> bytes:
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
