"""Schemathesis against /openapi.json, every operation, on both brokers (`make soak`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.soak

# Installed by `make soak` (the `soak` extra), beside this interpreter.
ST = Path(sys.executable).parent / "st"


def test_the_api_fuzz_finds_no_server_error(node: ServiceProcess, tmp_path: Path) -> None:
    if not ST.exists() and shutil.which("st") is None:
        pytest.fail("schemathesis is not installed: run `make soak`")
    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{node.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "20",
            # The SSE operation's stream never ends: each of its cases ends at this timeout.
            "--request-timeout",
            "2",
            "--header",
            f"Authorization: Bearer {node.token}",
            "--seed",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        # Schemathesis keeps a cache in its working directory: not in the checkout.
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    # Every operation of the schema was selected and tested.
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    assert selected is not None, result.stdout[-2000:]
    assert selected.group(1) == selected.group(2)
    assert f"Tested: {selected.group(1)}" in result.stdout
