"""`breaking-push listen` and `publish` run as processes: their output and exit codes."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from breaking_client import Event

from tests.support.processes import ServiceProcess, free_port

CLI = [sys.executable, "-m", "service"]


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKING_") and k != "NO_COLOR"}
    return env | overrides


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=20, env=_env(**env)
    )


def _publish(node: ServiceProcess, headline: str, **fields: Any) -> dict[str, Any]:
    """Publish straight through the HTTP API, independently of the client under test."""
    body = {"headline": headline, "regions": ["mena"], "language": "en"} | fields
    answer = httpx.post(
        f"{node.url}/v1/alerts", json=body, headers={"Authorization": f"Bearer {node.token}"}
    )
    assert answer.status_code == 201, answer.text
    event: dict[str, Any] = answer.json()
    return event


def test_publish_prints_the_event_as_json(client_memory_node: ServiceProcess) -> None:
    node = client_memory_node
    done = _cli(
        "publish", "Ceasefire announced", "--url", node.url, "--token", node.token,
        "--region", "mena,palestine", "--language", "ar", "--category", "politics",
        "--priority", "flash", "--source", "Desk", "--link", "https://example.org/a",
        "--ttl", "600", "--json",
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    event = Event.model_validate_json(done.stdout)
    assert (event.type, event.headline, event.regions) == (
        "alert",
        "Ceasefire announced",
        ["mena", "palestine"],
    )
    assert (event.language, event.category, event.priority) == ("ar", "politics", "flash")
    assert (event.source, event.url) == ("Desk", "https://example.org/a")
    lifetime = datetime.fromisoformat(event.expires_at) - datetime.fromisoformat(event.published_at)
    assert lifetime.total_seconds() == 600


def test_publish_prints_one_line_and_takes_the_token_from_the_environment(
    client_memory_node: ServiceProcess,
) -> None:
    node = client_memory_node
    done = _cli(
        "publish", "Markets fall", "--url", node.url, "--region", "europe", "--priority", "update",
        BREAKING_TOKEN=node.token,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    [line] = done.stdout.splitlines()
    assert "UPDATE" in line
    assert "[europe] en" in line
    assert line.endswith("Markets fall")
    assert "\x1b[" not in line  # not a terminal: no colour


@pytest.mark.parametrize(
    ("args", "token", "code", "message"),
    [
        (["", "--region", "mena"], "good", 3, "422"),
        (["x" * 281, "--region", "mena", "--link", "ftp://x"], "good", 3, "  url: "),
        (["Hello", "--region", "atlantis"], "good", 3, "regions: "),
        (["Hello", "--region", "mena"], "wrong-token", 3, "401"),
        (["Hello", "--region", "mena"], "", 2, "--token or BREAKING_TOKEN"),
        (["Hello"], "good", 2, "--region"),
        (["Hello", "--region", "mena", "--priority", "urgent"], "good", 2, "invalid choice"),
    ],
)
def test_publish_errors_go_to_stderr_with_distinct_codes(
    client_memory_node: ServiceProcess, args: list[str], token: str, code: int, message: str
) -> None:
    given = client_memory_node.token if token == "good" else token
    done = _cli("publish", "--url", client_memory_node.url, *args, BREAKING_TOKEN=given)
    assert done.returncode == code
    assert message in done.stderr
    assert done.stdout == ""
    assert client_memory_node.token not in done.stderr


def test_publish_to_an_unreachable_service_exits_4() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _cli("publish", "Hello", "--url", url, "--region", "mena", BREAKING_TOKEN="t")
    assert done.returncode == 4
    assert "unreachable" in done.stderr


async def test_listen_prints_matching_events_as_json_lines(
    client_memory_node: ServiceProcess,
) -> None:
    node = client_memory_node
    start = _publish(node, "start")
    listener = await asyncio.create_subprocess_exec(
        *CLI, "listen", "--url", node.url, "--region", "mena", "--language", "en", "--json",
        "--last-event-id", start["id"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    assert listener.stdout is not None
    try:
        first = _publish(node, "first for the CLI", priority="flash")
        _publish(node, "elsewhere", regions=["europe"])
        _publish(node, "in Arabic", language="ar")
        second = _publish(node, "second for the CLI", url="https://example.org/b")
        async with asyncio.timeout(10):
            lines = [await listener.stdout.readline() for _ in range(2)]
        assert [Event.model_validate_json(line) for line in lines] == [
            Event.model_validate(first),
            Event.model_validate(second),
        ]
        listener.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            assert await listener.wait() == 130
    finally:
        if listener.returncode is None:
            listener.kill()
            await listener.wait()


@pytest.mark.parametrize("no_color", [False, True])
def test_listen_colours_by_priority_only_on_a_terminal(
    client_memory_node: ServiceProcess, no_color: bool
) -> None:
    node = client_memory_node
    start = _publish(node, "start")
    controller, terminal = pty.openpty()
    env = _env(NO_COLOR="1") if no_color else _env()
    listener = subprocess.Popen(
        [*CLI, "listen", "--url", node.url, "--region", "mena", "--last-event-id", start["id"]],
        stdout=terminal, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(terminal)
    try:
        _publish(node, "Flash on the terminal", priority="flash")
        line = _read_line(controller, timeout=10)
    finally:
        listener.kill()
        listener.wait(10)
        os.close(controller)
    assert "Flash on the terminal" in line
    if no_color:
        assert "\x1b[" not in line
    else:
        assert line.startswith("\x1b[1;97;41m")
        assert line.endswith("\x1b[0m")


def _read_line(fd: int, timeout: float) -> str:
    """Read a terminal until the first line ends, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise TimeoutError(f"no line from the terminal in {timeout}s: {data!r}")
        data += os.read(fd, 4096)
    return data.split(b"\n", 1)[0].decode().rstrip("\r")
