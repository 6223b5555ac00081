"""The lock files match the pyprojects, and one version runs through the whole release."""

from __future__ import annotations

import json
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import httpx

from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
RELEASE = json.loads((ROOT / "clients" / "js" / "package.json").read_text())["version"]


def test_the_lock_files_match_the_pyprojects() -> None:
    """`make lock-check` compiles both locks afresh; a pyproject edit without `make lock` fails."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "lock-check"],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, f"run `make lock`:\n{done.stdout}{done.stderr}"


def test_one_version_for_the_whole_release(memory_node: ServiceProcess) -> None:
    assert version("breaking-push") == version("breaking-push-client") == RELEASE
    lock = json.loads((ROOT / "clients" / "js" / "package-lock.json").read_text())
    assert lock["version"] == RELEASE, "run `npm version` in clients/js, not a hand edit"
    assert httpx.get(f"{memory_node.url}/openapi.json").json()["info"]["version"] == RELEASE
    page = httpx.get(f"{memory_node.url}/").text
    # The embed scripts' immutable URLs carry the release (and their content hash).
    embedded = re.search(rf"/static/v/{re.escape(RELEASE)}-[0-9a-f]+/breaking-client\.js", page)
    assert embedded is not None, "the release names the versioned script URLs"
    versioned = httpx.get(f"{memory_node.url}{embedded[0]}")
    plain = httpx.get(f"{memory_node.url}/static/breaking-client.js")
    assert versioned.status_code == 200
    assert versioned.content == plain.content
    assert f"/static/site/demo.js?v={RELEASE}" in page
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {RELEASE}" in changelog, "the release's entry in CHANGELOG.md"


def test_make_run_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    """What `make run` would do in a fresh checkout: the runtime lock, never the dev tools."""
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", f"VENV={tmp_path / 'venv'}"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    installs = [line for line in planned.stdout.splitlines() if " install " in line]
    assert any("--require-hashes" in i and "requirements/runtime.txt" in i for i in installs)
    assert not [i for i in installs if "dev.txt" in i or "[dev]" in i or "npm" in i], installs
