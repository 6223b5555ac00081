"""The import contracts in pyproject.toml fail the build when an import breaks the architecture."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(ROOT / "service", tmp_path / "service")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = _lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("transports/sse.py", "import service.broker.base", "know nothing of any broker"),
        ("transports/ws.py", "import redis", "know nothing of any broker"),
        ("ingest.py", "import redis.asyncio", "Only the Redis broker imports redis"),
        ("models.py", "import service.hub", "vocabulary imports no wire"),
        (
            "transports/subscriber.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import service.subscribe",
            "Layers",
        ),
        ("hub.py", "import service.ingest", "Layers"),
    ],
)
def test_a_wrong_import_breaks_the_build(tree: Path, module: str, line: str, contract: str) -> None:
    target = tree / "service" / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if "BROKEN" in row]
    assert any(contract in row for row in broken), result.stdout
