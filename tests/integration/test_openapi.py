"""`/openapi.json` as a generator and a reader use it: valid, complete, and really generative."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from openapi_spec_validator import validate

from service.models import EventPayload, ProblemDetail
from service.openapi import HeartbeatData, ReadyData, ServerFrame
from tests.support.processes import ServiceProcess

WRITES = {("post", "/v1/alerts"), ("post", "/v1/alerts/{alert_id}/corrections")}
WRITES |= {("delete", "/v1/alerts/{alert_id}")}
SUBSCRIBE = {("get", "/v1/events"), ("get", "/v1/ws")}


@pytest.fixture(scope="module")
def schema(memory_node: ServiceProcess) -> dict[str, Any]:
    answer = httpx.get(f"{memory_node.url}/openapi.json")
    answer.raise_for_status()
    document: dict[str, Any] = answer.json()
    return document


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            yield method, path, op


def test_the_document_is_valid_openapi_3_1(schema: dict[str, Any]) -> None:
    validate(schema)
    assert schema["openapi"] == "3.1.0"


def test_every_operation_has_a_unique_id(schema: dict[str, Any]) -> None:
    ids = [op.get("operationId") for _, _, op in _operations(schema)]
    assert all(ids), [f"{m} {p}" for m, p, op in _operations(schema) if not op.get("operationId")]
    assert len(ids) == len(set(ids))
    assert {"publishAlert", "listAlerts", "subscribeEvents", "subscribeWebSocket"} <= set(ids)


def test_every_parameter_is_described(schema: dict[str, Any]) -> None:
    bare = [
        f"{method} {path} {param['name']}"
        for method, path, op in _operations(schema)
        for param in op["parameters"]
        if not param.get("description", "").strip()
    ]
    assert bare == []


def _header_names(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op["parameters"] if p["in"] == "header"}


def test_headers_that_matter_are_declared_where_they_apply(schema: dict[str, Any]) -> None:
    for method, path, op in _operations(schema):
        headers = _header_names(op)
        assert ("Idempotency-Key" in headers) == ((method, path) in WRITES), (method, path)
        assert ("Last-Event-ID" in headers) == ((method, path) in SUBSCRIBE), (method, path)
        for status, response in op["responses"].items():
            says_retry_after = "Retry-After" in response.get("headers", {})
            assert says_retry_after == (status in {"429", "503"}), (method, path, status)
    create = schema["paths"]["/v1/alerts"]["post"]
    assert "Retry-After" in create["responses"]["429"]["headers"]


def test_subscribe_routes_name_their_event_shapes(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    sse = schema["paths"]["/v1/events"]["get"]
    assert "text/event-stream" in sse["responses"]["200"]["content"]
    ws = schema["paths"]["/v1/ws"]["get"]
    for op, shapes in (
        (sse, ("EventPayload", "ResetData", "HeartbeatData")),
        (ws, ("ServerFrame", "SubscribeOp")),
    ):
        for shape in shapes:
            assert shape in op["description"]
            assert shape in components
    frame = components["ServerFrame"]["properties"]["event"]
    events = {"alert", "correction", "retraction", "ready", "reset", "heartbeat", "error"}
    assert set(frame["enum"]) == events
    assert components["SubscribeOp"]["properties"]["op"]["const"] == "subscribe"


def test_a_generated_client_publishes_and_lists(
    schema: dict[str, Any], memory_node: ServiceProcess, tmp_path: Path
) -> None:
    """openapi-python-client turns the document into a package; its functions reach a node."""
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{memory_node.url}/openapi.json").content)
    bin_dir = Path(sys.executable).parent
    # Its post-generation hook formats with ruff, found on PATH.
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(spec), "--meta",
         "none", "--output-path", str(tmp_path / "breaking_api")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    script = textwrap.dedent(
        """
        import sys
        from breaking_api import AuthenticatedClient, Client
        from breaking_api.api.ingest import publish_alert
        from breaking_api.api.listing import list_alerts
        from breaking_api.models import AlertIn, AlertInLanguage, EventPayload

        url, token = sys.argv[1:3]
        editor = AuthenticatedClient(base_url=url, token=token)
        body = AlertIn(headline="Generated client reaches the desk", regions=["europe"],
                       language=AlertInLanguage.EN)
        first = publish_alert.sync(client=editor, body=body, idempotency_key="gen-1")
        again = publish_alert.sync(client=editor, body=body, idempotency_key="gen-1")
        assert isinstance(first, EventPayload), first
        assert again.id == first.id, (again, first)
        listed = list_alerts.sync(client=Client(base_url=url), region="europe", limit=50)
        assert first.id in [alert.id for alert in listed.alerts], listed
        print(first.id)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, memory_node.url, memory_node.token],
        capture_output=True, text=True, timeout=60, env=env | {"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    published = httpx.get(f"{memory_node.url}/v1/alerts/{run.stdout.strip()}").json()
    assert published["headline"] == "Generated client reaches the desk"


async def test_real_websocket_frames_match_the_documented_shape(
    memory_node: ServiceProcess,
) -> None:
    """`ready`, an event, and an `error` as a node sends them validate as ServerFrame."""
    url = f"{memory_node.ws_url}/v1/ws?region=asia-pacific"

    async def next_frame(ws: websockets.ClientConnection) -> ServerFrame:
        """The next frame that is not a heartbeat (they come every second here), checked too."""
        while (frame := ServerFrame.model_validate_json(await ws.recv())).event == "heartbeat":
            assert isinstance(frame.data, HeartbeatData)
        return frame

    async with websockets.connect(url) as ws:
        frames = [await next_frame(ws)]
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{memory_node.url}/v1/alerts",
                json={"headline": "Frame shape", "regions": ["asia-pacific"], "language": "en"},
                headers={"Authorization": f"Bearer {memory_node.token}"},
            )
        assert answer.status_code == 201, answer.text
        frames.append(await next_frame(ws))
        await ws.send(orjson.dumps({"op": "unsubscribe"}).decode())
        frames.append(await next_frame(ws))
    assert [f.event for f in frames] == ["ready", "alert", "error"]
    assert [type(f.data) for f in frames] == [ReadyData, EventPayload, ProblemDetail]
    assert frames[1].id == answer.json()["id"]
