"""The Docker deployment: docker-compose.yml, deploy/nginx.conf and the Dockerfile.

Docker cannot run here, so the files are parsed and checked against what the service needs;
test_deploy_nginx.py runs deploy/nginx.conf itself in front of real nodes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import Settings
from service.subscribe import SSE_PATH, WS_PATH
from tests.support.processes import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
NODES = ("node1", "node2")
NODE_PORT = 8000
NODE_ENV = ("BREAKING_REDIS_URL", "BREAKING_EDITOR_TOKENS", "BREAKING_ALLOWED_ORIGINS")
_DURATION = re.compile(r"\A(\d+)(ms|s|m|h|d)?\Z")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


# -- parsing helpers ---------------------------------------------------------------------------


def _seconds(value: str) -> float:
    """An nginx or compose duration (`75s`, `1h`, `20s`) in seconds."""
    match = _DURATION.match(value.strip())
    assert match, f"not a duration: {value!r}"
    return int(match[1]) * _SECONDS[match[2] or "s"]


def _interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with VAR unset: the default (empty for other forms)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


@dataclass
class Block:
    """One nginx directive: its name, arguments and, for blocks, the directives inside."""

    name: str
    args: list[str]
    children: list[Block] = field(default_factory=list)

    def all(self, name: str) -> list[Block]:
        return [child for child in self.children if child.name == name]

    def one(self, name: str, *args: str) -> Block:
        found = [b for b in self.all(name) if list(args) == b.args[: len(args)]]
        assert len(found) == 1, f"expected one `{name} {' '.join(args)}`, found {len(found)}"
        return found[0]

    def value(self, name: str) -> list[str]:
        return self.one(name).args

    def headers(self) -> dict[str, str]:
        return {b.args[0].lower(): b.args[1] for b in self.all("proxy_set_header")}


def _nginx_tokens(text: str) -> Iterator[str]:
    for match in re.finditer(r'#[^\n]*|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};"#]+)', text):
        if match[1] is not None:
            yield match[1]
        elif match[2] or match[3]:
            yield match[2] or match[3]


def parse_nginx(text: str) -> Block:
    """nginx.conf as a tree of directives (enough for this file: no `if` or regex quirks)."""
    root = Block("main", [])
    stack: list[Block] = [root]
    words: list[str] = []
    for token in _nginx_tokens(text):
        if token == "{":
            block = Block(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == ";":
            stack[-1].children.append(Block(words[0], words[1:]))
            words = []
        elif token == "}":
            assert not words, f"directive without `;`: {words}"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1, "unbalanced braces in nginx.conf"
    assert not words, f"directive without `;` at the end: {words}"
    return root


def _dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions as (KEYWORD, arguments), grouped by build stage."""
    joined = re.sub(r"\\\n(?:[ \t]*#[^\n]*\n)*", " ", text)
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), rest.strip()))
    return stages


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def nginx() -> Block:
    return parse_nginx(NGINX_CONF.read_text())


def _healthcheck(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list), "exec form: a list"
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return [str(part) for part in test]


# -- docker-compose.yml ------------------------------------------------------------------------


def test_compose_has_redis_two_nodes_and_a_load_balancer(services: dict[str, Any]) -> None:
    assert set(services) == {"redis", *NODES, "lb"}


def test_redis_persists_with_aof_and_answers_ping(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    redis = services["redis"]
    command = redis["command"]
    args = command.split() if isinstance(command, str) else command
    assert args[0] == "redis-server"
    assert args[args.index("--appendonly") + 1] == "yes"
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data", "AOF files live in the redis image's /data"
    assert volume in compose["volumes"], "a named volume, so the AOF outlives the container"
    assert _healthcheck(redis)[1:] == ["redis-cli", "ping"]
    assert "ports" not in redis, "Redis is for the nodes only, never published"


def test_compose_builds_one_image_for_both_nodes(services: dict[str, Any]) -> None:
    first, second = (services[name] for name in NODES)
    build = first["build"]
    assert (build if isinstance(build, str) else build["context"]) == "."
    assert "build" not in second, "a second build of the same image would be wasted"
    assert first["image"] == second["image"], "node2 runs the image node1 builds"
    assert second["pull_policy"] == "never", "a local image, never looked up in a registry"


@pytest.mark.parametrize("name", NODES)
def test_node_waits_for_redis(name: str, services: dict[str, Any]) -> None:
    node = services[name]
    assert node["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in node, "nodes are reached through the load balancer"
    # uvicorn's graceful shutdown (SSE `retry:`, WebSocket 1012) needs up to 10 s.
    assert _seconds(node["stop_grace_period"]) > 10


@pytest.mark.parametrize("name", NODES)
def test_node_has_the_environment_every_deployment_sets(
    name: str, services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = services[name]["environment"]
    assert isinstance(env, dict), "environment as a mapping"
    assert set(NODE_ENV) <= set(env)
    assert env["BREAKING_REDIS_URL"] == "redis://redis:6379/0"
    # Tokens come from the operator's shell or .env: never a secret committed in the file.
    assert env["BREAKING_EDITOR_TOKENS"].startswith("${BREAKING_EDITOR_TOKENS:?")
    monkeypatch.setenv("BREAKING_ALLOWED_ORIGINS", _interpolate(env["BREAKING_ALLOWED_ORIGINS"]))
    settings = Settings()
    assert "http://localhost:8000" in settings.allowed_origins, "the demo page through the LB"


def test_nodes_share_one_configuration(services: dict[str, Any]) -> None:
    first, second = (services[name] for name in NODES)
    assert first["environment"] == second["environment"], "a token must work on either node"


@pytest.mark.parametrize("name", NODES)
def test_node_healthcheck_probes_readyz(name: str, services: dict[str, Any]) -> None:
    test = _healthcheck(services[name])
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{NODE_PORT}/readyz" in test[3]
    assert "$" not in test[3], "compose would interpolate it"


def test_load_balancer_publishes_8000_with_the_nginx_config(services: dict[str, Any]) -> None:
    lb = services["lb"]
    assert lb["image"].startswith("nginx:")
    assert [str(port) for port in lb["ports"]] == [f"{NODE_PORT}:{NODE_PORT}"]
    source, target, *mode = lb["volumes"][0].split(":")
    assert (ROOT / source).resolve() == NGINX_CONF
    assert target == "/etc/nginx/nginx.conf"
    assert mode == ["ro"]
    for name in NODES:
        assert lb["depends_on"][name]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(_healthcheck(lb))


def test_only_the_load_balancer_is_published(services: dict[str, Any]) -> None:
    assert [name for name, service in services.items() if "ports" in service] == ["lb"]


# -- deploy/nginx.conf -------------------------------------------------------------------------


def _server(nginx: Block) -> Block:
    return nginx.one("http").one("server")


def test_nginx_balances_over_both_nodes(nginx: Block) -> None:
    http = nginx.one("http")
    upstreams = http.all("upstream")
    assert len(upstreams) == 1
    servers = [b.args[0] for b in upstreams[0].all("server")]
    assert servers == [f"{name}:{NODE_PORT}" for name in NODES]
    assert _server(nginx).value("listen") == [str(NODE_PORT)]
    for location in _server(nginx).all("location"):
        assert location.value("proxy_pass") == [f"http://{upstreams[0].args[0]}"]


def test_nginx_streams_sse_unbuffered_over_http11(nginx: Block) -> None:
    sse = _server(nginx).one("location", "=", SSE_PATH)
    assert sse.value("proxy_buffering") == ["off"]
    assert sse.value("proxy_http_version") == ["1.1"]
    assert sse.headers()["connection"] == ""
    # Far above the heartbeat, so an idle stream is never cut by the proxy.
    assert _seconds(sse.value("proxy_read_timeout")[0]) >= 10 * Settings().heartbeat_seconds


def test_nginx_upgrades_websockets(nginx: Block) -> None:
    ws = _server(nginx).one("location", "=", WS_PATH)
    assert ws.value("proxy_http_version") == ["1.1"]
    headers = ws.headers()
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"].lower() == "upgrade"
    assert _seconds(ws.value("proxy_read_timeout")[0]) >= 10 * Settings().heartbeat_seconds


def test_nginx_forwards_host_wherever_it_sets_headers(nginx: Block) -> None:
    # proxy_set_header in a location replaces every inherited one, so each must name Host.
    for location in _server(nginx).all("location"):
        assert "host" in location.headers(), location.args


def test_parser_sees_a_missing_setting() -> None:
    """The checks above fail when a setting is absent, not only when it is wrong."""
    broken = parse_nginx(NGINX_CONF.read_text().replace("proxy_buffering off;", ""))
    sse = _server(broken).one("location", "=", SSE_PATH)
    with pytest.raises(AssertionError):
        sse.value("proxy_buffering")


# -- Dockerfile --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def final_stage() -> list[tuple[str, str]]:
    return _dockerfile_stages(DOCKERFILE.read_text())[-1]


def _args(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for kw, rest in stage if kw == keyword]


_DIGEST_PINNED = re.compile(r"\Apython:3\.11-slim-bookworm@sha256:[0-9a-f]{64}( AS \w+)?\Z")


def test_dockerfile_starts_from_a_base_image_pinned_by_digest() -> None:
    stages = _dockerfile_stages(DOCKERFILE.read_text())
    bases = [stage[0][1] for stage in stages]
    assert _DIGEST_PINNED.match(bases[0]), bases[0]
    named = {base.split(" AS ")[1] for base in bases if " AS " in base}
    # Every later stage builds on an earlier one, so the digest is written once.
    assert all(base.split(" AS ")[0] in named for base in bases[1:]), bases
    assert "docker buildx imagetools inspect" in DOCKERFILE.read_text(), "how to refresh it"


def test_dockerfile_installs_the_lock_before_copying_the_source() -> None:
    build = _dockerfile_stages(DOCKERFILE.read_text())[-2]
    steps = [f"{kw} {rest}" for kw, rest in build if kw in ("COPY", "RUN")]
    locked = next(i for i, s in enumerate(steps) if "--require-hashes" in s)
    assert "-r requirements/runtime.txt" in steps[locked]
    assert "--no-deps" in steps[locked], "only what the lock names"
    copied_before = [s for s in steps[:locked] if s.startswith("COPY")]
    assert copied_before == ["COPY requirements/runtime.txt ./requirements/runtime.txt"]
    source = [i for i, s in enumerate(steps) if s.startswith("COPY") and "service" in s]
    assert source, "the build copies service/"
    assert min(source) > locked, "a code change must not reinstall dependencies"
    [own] = [s for s in steps[locked + 1 :] if s.startswith("RUN")]
    assert re.search(r"pip install --no-deps \./clients/python \.(\s|$)", own)
    assert not re.search(r"(\s-e\s|--editable)", own)


def test_dockerfile_runs_as_non_root(final_stage: list[tuple[str, str]]) -> None:
    users = _args(final_stage, "USER")
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_serves_on_8000(final_stage: list[tuple[str, str]]) -> None:
    assert _args(final_stage, "EXPOSE") == [str(NODE_PORT)]
    [cmd] = _args(final_stage, "CMD")
    assert json.loads(cmd) == [
        "breaking-push",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(NODE_PORT),
    ]


def test_dockerfile_healthcheck_probes_readyz_with_python(
    final_stage: list[tuple[str, str]],
) -> None:
    [check] = _args(final_stage, "HEALTHCHECK")
    options, _, command = check.partition("CMD ")
    test = json.loads(command)
    assert test[:2] == ["python", "-c"]
    assert "urllib" in test[2]
    assert f"http://127.0.0.1:{NODE_PORT}/readyz" in test[2]
    assert "--timeout" in options
    assert "--interval" in options


# -- the healthcheck command itself ------------------------------------------------------------


def _probe(code: str, port: int) -> int:
    """Run a healthcheck's Python against `port` instead of 8000; its exit status."""
    code = code.replace(f"127.0.0.1:{NODE_PORT}", f"127.0.0.1:{port}")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=10).returncode


class _Unready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_healthcheck_passes_on_a_ready_node_and_fails_otherwise(
    services: dict[str, Any], memory_node: ServiceProcess
) -> None:
    code = _healthcheck(services["node1"])[3]
    assert _probe(code, memory_node.port) == 0
    assert _probe(code, free_port()) != 0, "nothing listening"
    server = HTTPServer(("127.0.0.1", 0), _Unready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _probe(code, server.server_address[1]) != 0, "503 from /readyz"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
