"""Real Chromium against real nodes: one browser per session, one page per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.helpers import WAIT_MS
from tests.support.processes import ServiceProcess, service_process

CHROMIUM = Path(os.environ.get("BREAKING_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site() -> Iterator[ServiceProcess]:
    """The node a module's tests share; a test that restarts a node starts its own.

    Its allow-list is the tests' default (https://news.example only): the pages it serves
    itself still get WebSocket, as same-origin, and `open_demo` checks they do.
    """
    with service_process() as node:
        yield node


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test; an uncaught script error anywhere fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
