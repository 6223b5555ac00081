"""The README's tour and embed commands, run as written against a started node."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.config import Settings
from tests.support.processes import ServiceProcess, service_env

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(heading: str, index: int = 0) -> list[str]:
    """The commands of the `index`th sh block after `heading`, continuation lines joined."""
    section = README.split(heading, 1)[1]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[index]
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


@contextmanager
def _tour_node() -> Iterator[tuple[ServiceProcess, str]]:
    """`make run`'s command (checked below) with no tokens set; yields the node and its export line."""
    env = service_env()
    del env["BREAKING_EDITOR_TOKENS"]
    node = ServiceProcess(env=env)
    node.start()
    try:
        printed = node.output()
        export = next(line for line in printed.splitlines() if line.startswith("export TOKEN="))
        yield node, export
    finally:
        node.kill()
        node.log.unlink(missing_ok=True)


def _on(node: ServiceProcess, command: str) -> str:
    return command.replace("http://127.0.0.1:8000", node.url)


class _Terminal:
    """A `curl -N` left running, as in a terminal of its own."""

    def __init__(self, command: str) -> None:
        self.proc = subprocess.Popen(
            ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []

    def wait_for(self, text: str, timeout: float = 10) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} not seen; got {self.lines}")

    def end(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _wait_subscribers(node: ServiceProcess, count: int) -> None:
    """As a reader waits for terminals 2 and 3 to be connected before posting."""
    deadline = time.monotonic() + 10
    while httpx.get(f"{node.url}/readyz").json()["subscribers"] < count:
        assert time.monotonic() < deadline, "the curl subscribers never connected"
        time.sleep(0.05)


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1] for line in table.splitlines() if line.startswith("| `BREAKING_")}
    documented = " ".join(rows)
    missing = [
        name for name in Settings.model_fields if f"`BREAKING_{name.upper()}`" not in documented
    ]
    assert missing == [], "settings without a row in the README's configuration table"


def test_make_run_is_the_serve_command_the_tour_starts() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:.*\n\t\$\(BIN\)/breaking-push serve$", makefile, re.M)


def test_the_tour_as_written() -> None:
    commands = _block("## A 30-second tour")
    assert commands[0].startswith("make run")
    mena_cmd, europe_cmd, export_cmd, post_cmd = commands[1:5]
    assert export_cmd.startswith("export TOKEN=dev-…")
    with _tour_node() as (node, export):
        mena = _Terminal(_on(node, mena_cmd))
        europe = _Terminal(_on(node, europe_cmd))
        try:
            _wait_subscribers(node, 2)
            posted = subprocess.run(
                ["bash", "-c", f"{export}\n{_on(node, post_cmd)}"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert '"headline":"Ceasefire talks resume in Cairo"' in posted.stdout, posted
            first_id = re.search(r'"id":"([0-9]+-[0-9]+)"', posted.stdout)
            assert first_id is not None
            mena.wait_for('"headline":"Ceasefire talks resume in Cairo"')
            # Terminal 3 sees nothing: prove it with a sentinel to europe it must see first.
            token = export.removeprefix("export TOKEN=")
            sentinel = httpx.post(
                f"{node.url}/v1/alerts",
                json={"headline": "europe sentinel", "regions": ["europe"], "language": "en"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sentinel.status_code == 201
            europe.wait_for("europe sentinel")
            assert not any("Ceasefire" in line for line in europe.lines)
        finally:
            mena.end()
            europe.end()

        # "Stop terminal 2, post again, and reconnect with the last id you saw".
        again = subprocess.run(
            ["bash", "-c", f"{export}\n{_on(node, post_cmd)}"], capture_output=True, text=True
        )
        second_id = re.search(r'"id":"([0-9]+-[0-9]+)"', again.stdout)
        assert second_id is not None
        resume_cmd = re.search(r"`(curl -N -H 'Last-Event-ID: [^`]+)`", README)
        assert resume_cmd is not None
        resume = resume_cmd[1].replace("1795795057624-0", first_id[1])
        resumed = _Terminal(_on(node, resume))
        try:
            resumed.wait_for(f"id: {second_id[1]}")
        finally:
            resumed.end()

        # The terminal commands of "Apps and terminals", with the tour's $TOKEN.
        listen_cmd, publish_cmd, alerts_cmd = _block("### Apps and terminals")
        cli = f"{sys.executable} -m service"
        published = subprocess.run(
            [
                "bash",
                "-c",
                f"{export}\n{_on(node, publish_cmd).replace('.venv/bin/breaking-push', cli)}",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            cwd=ROOT,
        )
        assert published.returncode == 0, published.stderr
        assert "FLASH" in published.stdout
        listed = subprocess.run(
            ["bash", "-c", _on(node, alerts_cmd).replace(".venv/bin/breaking-push", cli)],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert listed.returncode == 0, listed.stderr
        assert "Ceasefire talks resume in Cairo" in listed.stdout
        assert listen_cmd.startswith(".venv/bin/breaking-push listen --url http://127.0.0.1:8000")


def test_the_documented_sri_command_matches_the_served_script_and_the_snippet(
    memory_node: ServiceProcess,
) -> None:
    command = next(c for c in _block("Each SRI hash can be checked") if "openssl" in c)
    printed = subprocess.run(
        ["bash", "-c", _on(memory_node, command)], capture_output=True, text=True, timeout=20
    ).stdout.strip()
    script = (ROOT / "clients" / "js" / "src" / "breaking-ticker.js").read_bytes()
    assert printed == base64.b64encode(hashlib.sha384(script).digest()).decode()
    demo = httpx.get(memory_node.url + "/").text
    assert f'breaking-ticker.js" integrity="sha384-{printed}"' in demo
    assert shlex.split(command)[0] == "curl"
