"""Two wheels that stand alone: the client's needs nothing of the server's.

The client's wheel goes into a fresh virtualenv of its own and talks to a node that runs
from this one: it proves `pip install breaking-push-client` needs nothing of the server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
RELEASE = json.loads((ROOT / "clients" / "js" / "package.json").read_text())["version"]
CLIENT_DEPS = {"httpx", "httpx-sse", "websockets", "pydantic"}
SERVER_ONLY = ("uvicorn", "starlette", "redis", "prometheus_client", "service")


def _run(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both distributions as a release builds them: an sdist each, and the wheel from it."""
    out = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).parent / "uv"
    for project in ("./clients/python", "."):
        _run(uv, "build", "--quiet", "--out-dir", out, project)
    found = {w.name.split("-")[0]: w for w in out.glob("*.whl")}
    assert set(found) == {"breaking_push", "breaking_push_client"}, found
    assert len(list(out.glob("*.tar.gz"))) == 2
    return found


def _metadata(wheel: Path) -> tuple[list[str], dict[str, str | list[str]]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(meta).decode())
    requires = [str(r).split(";")[0] for r in message.get_all("Requires-Dist") or []]
    return names, {"Version": message["Version"], "Requires-Dist": requires}


def _name(requirement: str) -> str:
    return requirement.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()


def test_the_client_wheel_needs_only_what_the_client_uses(wheels: dict[str, Path]) -> None:
    names, meta = _metadata(wheels["breaking_push_client"])
    assert {_name(r) for r in meta["Requires-Dist"]} == CLIENT_DEPS
    assert meta["Version"] == RELEASE
    assert all(n.startswith("breaking_client/") or ".dist-info/" in n for n in names), names
    entry_points = zipfile.ZipFile(wheels["breaking_push_client"]).read(
        f"breaking_push_client-{RELEASE}.dist-info/entry_points.txt"
    )
    assert b"breaking-push-client = breaking_client.cli:main" in entry_points


def test_the_server_wheel_depends_on_the_client_instead_of_holding_it(
    wheels: dict[str, Path],
) -> None:
    names, meta = _metadata(wheels["breaking_push"])
    assert "breaking-push-client" in {_name(r) for r in meta["Requires-Dist"]}
    assert meta["Version"] == RELEASE
    assert not [n for n in names if n.startswith("breaking_client/")]
    shipped_js = {n.rsplit("/", 1)[1] for n in names if n.startswith("service/web/client_js/")}
    assert shipped_js == {"breaking-client.js", "breaking-ticker.js"}


@pytest.fixture(scope="module")
def client_only_python(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the client's wheel and what pip resolves for it, nothing else."""
    home = tmp_path_factory.mktemp("client-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         wheels["breaking_push_client"])  # fmt: skip
    return python


def test_the_client_installs_alone(client_only_python: Path) -> None:
    for module in SERVER_ONLY:
        probe = subprocess.run(
            # -I: not the checkout's directory on sys.path, only the venv's site-packages.
            [client_only_python, "-I", "-c", f"import {module}"],
            capture_output=True,
            timeout=30,
        )
        assert probe.returncode != 0, f"{module} should not be installed with the client"
    listed = _run(client_only_python, "-m", "pip", "list", "--format=json").stdout
    assert RELEASE in {
        p["version"] for p in json.loads(listed) if p["name"] == "breaking-push-client"
    }


def test_the_client_command_publishes_from_its_own_venv(
    client_only_python: Path, client_memory_node: ServiceProcess
) -> None:
    node = client_memory_node
    command = client_only_python.parent / "breaking-push-client"
    done = _run(command, "publish", "Published without the server installed", "--url", node.url,
                "--token", node.token, "--region", "asia", "--json", timeout=30)  # fmt: skip
    event = json.loads(done.stdout)
    listed = httpx.get(f"{node.url}/v1/alerts/{event['id']}").json()
    assert listed["headline"] == "Published without the server installed"


def test_the_client_behaviour_suite_passes_without_the_server(client_only_python: Path) -> None:
    """tests/client/test_client.py, run by the client-only Python; its nodes run from ours.

    The whole suite runs in the main venv; here its memory-broker cases without node
    restarts (filters, publishing, errors, the SSE fallback), to keep this under a minute.
    """
    pins = (ROOT / "requirements" / "dev.txt").read_text()
    runner = [m.group(0) for m in re.finditer(r"^(pytest|pytest-asyncio)==\S+", pins, re.M)]
    assert len(runner) == 2, runner
    _run(client_only_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *runner)  # fmt: skip
    where = _run(
        client_only_python, "-I", "-c", "import breaking_client; print(breaking_client.__file__)"
    )
    assert where.stdout.startswith(str(client_only_python.parents[1])), where.stdout
    env = os.environ | {"BREAKING_TEST_SERVER_PYTHON": sys.executable}
    suite = subprocess.run(
        [client_only_python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/client/test_client.py", "-k", "not redis and not restart"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout, suite.stdout[-500:]
    assert " skipped" not in suite.stdout, suite.stdout[-500:]
