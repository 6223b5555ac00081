"""The JS client as an npm package: `npm pack`, `npm install` of the tarball, then a page on
another origin imports the installed files by their package names and receives an alert."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import item_of, publish, unique
from tests.support.processes import ServiceProcess, service_process

pytestmark = pytest.mark.browser

JS = Path(__file__).resolve().parents[2] / "clients" / "js"
PACKAGE = json.loads((JS / "package.json").read_text())

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>an app using breaking-push-client</title>
<script type="importmap">
{"imports": {
  "breaking-push-client": "/node_modules/breaking-push-client/src/breaking-client.js",
  "breaking-push-client/ticker": "/node_modules/breaking-push-client/src/breaking-ticker.js"
}}
</script>
<script type="module">
  import { BreakingClient } from "breaking-push-client";
  import "breaking-push-client/ticker";
  const server = new URLSearchParams(location.search).get("server");
  window.received = [];
  const client = new BreakingClient({ server, filter: { region: ["africa"] } });
  client.addEventListener("alert", (event) => window.received.push(event.detail.headline));
  client.addEventListener("status", (event) => { document.body.dataset.status = event.detail.status; });
  client.start();
  const ticker = document.createElement("breaking-ticker");
  ticker.setAttribute("server", server);
  ticker.setAttribute("region", "africa");
  document.body.append(ticker);
</script>
"""

CONSUMER_TS = """import { BreakingClient, type BreakingEvent } from "breaking-push-client";
import { BreakingTicker } from "breaking-push-client/ticker";
const client: BreakingClient = new BreakingClient({ server: "http://127.0.0.1", filter: { region: ["mena"] } });
const first: BreakingEvent | undefined = client.alerts[0];
const tag: typeof BreakingTicker = BreakingTicker;
export { first, tag };
"""


def _npm(*args: str, cwd: Path) -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: run `make js-deps`")
    done = subprocess.run(
        [npm, *args, "--no-audit", "--no-fund"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app directory that has `npm install`ed the packed tarball, as a user would."""
    if not (JS / "node_modules" / ".bin" / "tsc").exists():
        pytest.fail("TypeScript is missing in clients/js: run `make js-deps`")
    packed = tmp_path_factory.mktemp("packed")
    [entry] = json.loads(_npm("pack", "--json", "--pack-destination", str(packed), cwd=JS))
    assert sorted(f["path"] for f in entry["files"]) == [
        "package.json",
        "src/breaking-client.js",
        "src/breaking-ticker.js",
        "types/breaking-client.d.ts",
        "types/breaking-ticker.d.ts",
    ]
    assert entry["version"] == PACKAGE["version"]
    home = tmp_path_factory.mktemp("app")
    (home / "package.json").write_text('{"name": "app", "private": true, "type": "module"}')
    _npm("install", str(packed / entry["filename"]), cwd=home)
    (home / "index.html").write_text(PAGE)
    return home


def test_the_package_has_no_runtime_dependencies_and_ships_types(app: Path) -> None:
    installed = json.loads(
        (app / "node_modules" / "breaking-push-client" / "package.json").read_text()
    )
    assert "dependencies" not in installed
    assert installed["exports"]["."]["types"] == "./types/breaking-client.d.ts"
    (app / "consumer.ts").write_text(CONSUMER_TS)
    checked = subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "--noEmit", "--strict", "--module", "es2022",
         "--moduleResolution", "bundler", "--target", "es2022", "--lib", "es2022,dom", "consumer.ts"],
        cwd=app, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def app_origin(app: Path) -> Iterator[str]:
    """The app's files served from a static server of its own: another origin than the node."""
    handler = partial(_QuietHandler, directory=str(app))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The test's output is for failures, not for every file served."""


@pytest.fixture(scope="module")
def app_node(app_origin: str) -> Iterator[ServiceProcess]:
    with service_process(env={"BREAKING_ALLOWED_ORIGINS": app_origin}) as node:
        yield node


def test_a_page_importing_the_installed_package_receives_an_alert(
    page: Page, app_origin: str, app_node: ServiceProcess
) -> None:
    page.goto(f"{app_origin}/index.html?server={app_node.url}")
    expect(page.locator("body")).to_have_attribute("data-status", "live")
    ticker = page.locator("breaking-ticker")
    expect(ticker).to_have_attribute("state", "live")
    headline = unique("Installed from the tarball")
    event = publish(app_node, headline, regions=["africa"])
    expect(item_of(ticker, event["id"])).to_contain_text(headline)
    page.wait_for_function("(h) => window.received.includes(h)", arg=headline)
