"""The browser client and the ticker type-check strictly from their JSDoc (no build step)."""

from __future__ import annotations

import subprocess
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "clients" / "js"


def test_the_js_sources_pass_typescript_strict_check_js() -> None:
    tsc = JS / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "`make install` installs TypeScript into clients/js/node_modules"
    sources = sorted(str(path) for path in (JS / "src").glob("*.js"))
    options = ["--noEmit", "--allowJs", "--checkJs", "--strict", "--target", "es2022"]
    options += ["--module", "es2022", "--moduleResolution", "bundler"]
    options += ["--lib", "es2022,dom,dom.iterable"]
    checked = subprocess.run(
        [str(tsc), *options, *sources],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
