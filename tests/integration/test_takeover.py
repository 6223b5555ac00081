"""The subscribe routes are taken over below ASGI on the same port; everything else stays ASGI.

This covers the uvicorn protocol subclass (service/takeover.py) against the pinned uvicorn.
"""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service.takeover import TakeoverProtocol
from tests.support.processes import ALLOWED_ORIGIN, ServiceProcess, free_port, service_env

ROOT = Path(__file__).resolve().parents[2]


def _raw(node: ServiceProcess, request: bytes, until: bytes = b"\r\n\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while until not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_asgi_routes_keep_alive_around_subscribe_routes(memory_node: ServiceProcess) -> None:
    with httpx.Client(base_url=memory_node.url) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            assert client.get("/v1/alerts").status_code == 200
        assert client.get("/no/such/route").headers["content-type"] == "application/problem+json"


def test_pipelined_asgi_requests_still_work(memory_node: ServiceProcess) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = _raw(
        memory_node,
        request * 2 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x00",
    )
    assert answer.count(b"HTTP/1.1 200 OK") == 3


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE"])
def test_subscribe_routes_take_get_only(memory_node: ServiceProcess, method: bytes) -> None:
    answer = _raw(
        memory_node, method + b" /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"}"
    )
    assert answer.startswith(b"HTTP/1.1 405")
    assert b"allow: GET" in answer
    assert b"application/problem+json" in answer


def test_sse_preflight_answers_for_allowed_origins(memory_node: ServiceProcess) -> None:
    response = httpx.options(
        f"{memory_node.url}/v1/events",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Headers": "last-event-id"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Last-Event-ID" in response.headers["access-control-allow-headers"]


def test_sse_from_a_foreign_origin_is_refused_with_a_problem_and_logged_once(
    memory_node: ServiceProcess,
) -> None:
    for _ in range(3):
        response = httpx.get(
            f"{memory_node.url}/v1/events", headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert "BREAKING_ALLOWED_ORIGINS" in response.json()["detail"]
        assert "access-control-allow-origin" not in response.headers
    assert memory_node.output().count("refused subscribers from origin https://evil.example") == 1


async def test_websocket_from_a_foreign_origin_is_refused(memory_node: ServiceProcess) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{memory_node.ws_url}/v1/ws", origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert b"not allowed" in response.body


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, None])
async def test_websocket_from_an_allowed_origin_or_an_app(
    memory_node: ServiceProcess, origin: str | None
) -> None:
    async with websockets.connect(f"{memory_node.ws_url}/v1/ws", origin=origin) as ws:  # type: ignore[arg-type]
        assert b'"event":"ready"' in await ws.recv(decode=False)


def test_websocket_route_without_upgrade_is_426(memory_node: ServiceProcess) -> None:
    response = httpx.get(f"{memory_node.url}/v1/ws")
    assert response.status_code == 426
    assert response.headers["content-type"] == "application/problem+json"


async def test_server_frames_are_unmasked_and_uncompressed(memory_node: ServiceProcess) -> None:
    async with websockets.connect(f"{memory_node.ws_url}/v1/ws", compression="deflate") as ws:
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers


async def test_websocket_from_the_nodes_own_pages_is_allowed(memory_node: ServiceProcess) -> None:
    own = f"http://127.0.0.1:{memory_node.port}"
    async with websockets.connect(f"{memory_node.ws_url}/v1/ws", origin=own) as ws:  # type: ignore[arg-type]
        assert b'"event":"ready"' in await ws.recv(decode=False)


def test_a_request_pipelined_after_a_subscribe_is_refused_not_answered_in_the_stream(
    memory_node: ServiceProcess,
) -> None:
    answer = _raw(
        memory_node,
        b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"}",
    )
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"application/problem+json" in answer
    assert b"text/event-stream" not in answer
    assert answer.count(b"HTTP/1.1") == 1


def test_an_asgi_request_pipelined_ahead_of_a_subscribe_is_answered_first(
    memory_node: ServiceProcess,
) -> None:
    answer = _raw(
        memory_node,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n",
        b"retry: ",
    )
    health, _, stream = answer.partition(b'{"status":"ok"}')
    assert health.startswith(b"HTTP/1.1 200 OK")
    assert stream.startswith(b"HTTP/1.1 200 OK")
    assert b"text/event-stream" in stream
    assert b"text/event-stream" not in health


def test_a_percent_encoded_subscribe_path_is_taken_over(memory_node: ServiceProcess) -> None:
    answer = _raw(memory_node, b"GET /v1/%65vents HTTP/1.1\r\nHost: x\r\n\r\n", b"retry: ")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"text/event-stream" in answer


def _trickled(node: ServiceProcess, request: bytes, until: bytes) -> bytes:
    """Send `request` a few bytes per packet, as a slow client or a small MTU would."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(request), 3):
            sock.sendall(request[start : start + 3])
        data = b""
        while until not in data and (chunk := sock.recv(65536)):
            data += chunk
        return data


@pytest.mark.parametrize(
    ("request_bytes", "until", "expected"),
    [
        (
            b"GET /v1/events?region=mena HTTP/1.1\r\nHost: x\r\n\r\n",
            b"retry: ",
            b"text/event-stream",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"}", b'"ok"'),
        (b"GET /v1/events?region=atlantis HTTP/1.1\r\nHost: x\r\n\r\n", b"}", b"atlantis"),
    ],
)
def test_a_head_that_arrives_in_pieces_is_served_like_one_that_does_not(
    memory_node: ServiceProcess, request_bytes: bytes, until: bytes, expected: bytes
) -> None:
    answer = _trickled(memory_node, request_bytes, until)
    assert expected in answer
    assert answer.count(b"HTTP/1.1") == 1


def test_a_head_with_bare_line_feeds_is_answered_at_once(memory_node: ServiceProcess) -> None:
    """Not left waiting for a CRLF that never comes (the head's deadline would answer 408)."""
    answer = _raw(memory_node, b"GET /v1/events HTTP/1.1\nHost: x\n\n", b"}")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"application/problem+json" in answer


def test_websocket_frames_sent_with_the_handshake_are_read(memory_node: ServiceProcess) -> None:
    """A client may send its first op before it reads the 101: the op is answered, not lost."""
    op = b'{"op":"subscribe","region":"atlantis"}'
    frame = bytes((0x81, 0x80 | len(op))) + b"\0\0\0\0" + op  # masked with a zero key
    handshake = (
        b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = _raw(memory_node, handshake + frame, b"atlantis")
    assert answer.startswith(b"HTTP/1.1 101")
    # RFC 6455 1.3's example key and the accept it must give.
    assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer
    assert b'"event":"error"' in answer
    assert b"atlantis" in answer


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),
        (
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: c2hvcnQ=\r\n",
            400,
        ),
        (
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            426,
        ),
        (b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n", 426),
    ],
)
def test_an_invalid_websocket_handshake_is_a_problem(
    memory_node: ServiceProcess, fields: bytes, status: int
) -> None:
    answer = _raw(memory_node, b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n", b"}")
    assert answer.startswith(f"HTTP/1.1 {status}".encode())
    assert b"application/problem+json" in answer
    assert b"WebSocket handshake failed" in answer


def test_the_pinned_versions_and_private_names_the_takeover_relies_on() -> None:
    """An upgrade of uvicorn, httptools or websockets fails here, at the cause."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package in ("uvicorn", "httptools", "websockets"):
        pinned = next(d for d in dependencies if d.split("[")[0].split("==")[0] == package)
        assert pinned.endswith(f"=={version(package)}"), f"{package} must be pinned exactly"
    # uvicorn internals overridden or read by TakeoverProtocol.
    for name in (
        "on_message_begin",
        "on_url",
        "on_header",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
        "on_response_complete",
        "_should_upgrade",
        "handle_websocket_upgrade",
        "data_received",
        "_unset_keepalive_if_required",
        # The limits (docs/SECURITY.md): admission, and the answer to an unparsable request.
        "connection_made",
        "connection_lost",
        "send_400_response",
    ):
        assert callable(getattr(HttpToolsProtocol, name)), name
    init = inspect.getsource(HttpToolsProtocol.__init__)
    for attribute in (
        "self.pipeline",
        "self.cycle",
        "self.connections",
        "self.parser",
        "self.loop",
    ):
        assert attribute in init, attribute
    assert "self.client" in inspect.getsource(HttpToolsProtocol.connection_made)
    # A parser callback that raises reaches send_400_response, which the takeover answers.
    assert "send_400_response" in inspect.getsource(HttpToolsProtocol.data_received)
    assert "except httptools.HttpParserError" in inspect.getsource(HttpToolsProtocol.data_received)
    assert "self.url" in inspect.getsource(HttpToolsProtocol.on_url)
    assert "self.headers" in inspect.getsource(HttpToolsProtocol.on_message_begin)
    assert issubclass(TakeoverProtocol, HttpToolsProtocol)
    # The front protocol (service/front.py) is built as uvicorn builds its own, with the same
    # keywords, joins the server's connection set, and is closed by its graceful shutdown.
    startup = inspect.getsource(uvicorn.Server.startup)
    for keyword in ("config=config", "server_state=self.server_state", "app_state=", "_loop="):
        assert keyword in startup, keyword
    assert "connection.shutdown()" in inspect.getsource(uvicorn.Server.shutdown)
    assert isinstance(ServerState().connections, set)


def test_create_app_under_a_plain_asgi_server_refuses_to_start() -> None:
    """Without `breaking-push serve` nothing would answer /v1/events: say so at start."""
    script = (
        "import uvicorn\n"
        "from service.app import create_app\n"
        "from service.config import Settings\n"
        f"uvicorn.run(create_app(Settings()), host='127.0.0.1', port={free_port()})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "the subscribe routes need `breaking-push serve`" in result.stderr
