"""The embed scripts: immutable versioned URLs, a revalidated plain path, gzip, SRI in the demo."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.processes import ServiceProcess

CLIENT_JS = Path(__file__).resolve().parents[2] / "clients" / "js" / "src"


def _versioned(node: ServiceProcess, name: str) -> str:
    demo = httpx.get(node.url + "/").text
    match = re.search(rf"/static/v/([0-9][0-9.]*-[0-9a-f]+)/{re.escape(name)}", demo)
    assert match is not None, "the demo's embed snippet names no versioned URL"
    return match[0]


def test_versioned_scripts_are_immutable_and_gzipped(memory_node: ServiceProcess) -> None:
    for name in ("breaking-ticker.js", "breaking-client.js"):
        url = memory_node.url + _versioned(memory_node, name)
        raw = httpx.get(url, headers={"accept-encoding": "gzip"}, follow_redirects=False)
        assert raw.status_code == 200
        assert raw.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["content-type"] == "text/javascript; charset=utf-8"
        assert raw.headers["access-control-allow-origin"] == "*"
        assert "Accept-Encoding" in raw.headers["vary"]
        original = (CLIENT_JS / name).read_bytes()
        assert raw.content == original  # httpx decoded the gzip
        assert int(raw.headers["content-length"]) < len(original) / 2
        plain = httpx.get(url, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == original


def test_the_plain_path_is_short_lived_and_revalidates(memory_node: ServiceProcess) -> None:
    url = f"{memory_node.url}/static/breaking-ticker.js"
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=300, must-revalidate"
    again = httpx.get(url, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_an_old_version_redirects_and_an_unknown_file_is_a_problem(
    memory_node: ServiceProcess,
) -> None:
    old = httpx.get(f"{memory_node.url}/static/v/0000000000000000/breaking-ticker.js")
    assert old.status_code == 302
    assert old.headers["location"] == _versioned(memory_node, "breaking-ticker.js")
    missing = httpx.get(f"{memory_node.url}/static/package.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "breaking-ticker.js" in missing.json()["detail"]
