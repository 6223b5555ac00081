"""WebSocket clients: fragmented ops, invalid UTF-8, and clients that send without reading."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from websockets.frames import Opcode

from tests.abuse.attacks import (
    client_frame,
    dropped_while_unread,
    flood,
    watch_rss,
    ws_open,
)
from tests.abuse.conftest import RSS_BOUND_MB, honest_traffic_flows, pid
from tests.support.clients import publish, ws_subscriber
from tests.support.processes import ServiceProcess


async def test_a_fragmented_subscribe_op_is_reassembled(guarded_node: ServiceProcess) -> None:
    async with ws_subscriber(guarded_node, region="mena") as ws:
        await ws.connection.send(['{"op": "subscribe", ', '"region": "europe"}'])
        ready = await ws.received.wait_control("ready", 2)
        assert ready["filters"]["region"] == ["europe"]
        assert not ws.received.of_kind("error")


def _close_code(sock: socket.socket) -> int | None:
    """The code of the node's close frame, reading until it closes the connection."""
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    at = data.find(b"\x88")
    while at != -1:
        length = data[at + 1]
        if 2 <= length <= 125:
            return int.from_bytes(data[at + 2 : at + 4], "big")
        at = data.find(b"\x88", at + 1)
    return None


@pytest.mark.parametrize(
    "frames",
    [
        [client_frame(Opcode.TEXT, b'{"op": "subscribe", "region": "\xff"}')],
        [
            client_frame(Opcode.TEXT, b'{"op": "subscribe", "region": "\xe2\x82', fin=False),
            client_frame(Opcode.CONT, b'"}'),
        ],
    ],
    ids=["one frame", "split across fragments"],
)
def test_invalid_utf8_closes_with_1007(guarded_node: ServiceProcess, frames: list[bytes]) -> None:
    with ws_open(guarded_node.port, "127.0.8.1") as sock:
        sock.sendall(b"".join(frames))
        assert _close_code(sock) == 1007


def test_a_valid_character_split_across_fragments_is_fine(guarded_node: ServiceProcess) -> None:
    with ws_open(guarded_node.port, "127.0.8.2") as sock:
        sock.sendall(
            client_frame(Opcode.TEXT, b'{"op": "subscribe", "x": "\xe2\x82', fin=False)
            + client_frame(Opcode.CONT, b'\xac", "region": "asia"}')
        )
        sock.settimeout(5)
        data = b""
        # The first `ready` came with the handshake; this one answers the op.
        while b'"region":["asia"]' not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert b'"event":"error"' not in data


async def _unreading_flood(node: ServiceProcess, source: str, unit: bytes, query: str = "") -> None:
    with watch_rss(pid(node)) as rss, ws_open(node.port, source, query) as sock:
        result = flood(sock, unit, total=32 * 1024 * 1024)
        # The node stops reading a client whose replies pile up, then drops it.
        assert result.outcome != "all sent", result
        assert dropped_while_unread(sock, within=8)
    assert rss.growth < RSS_BOUND_MB, rss
    reasons = ("it read none of what it was sent", "it does not read what it is sent")
    drops = [line for line in node.output().splitlines() if f"('{source}'," in line]
    assert any(reason in line for line in drops for reason in reasons), drops
    await honest_traffic_flows(node)


async def test_pings_without_reading_the_pongs(guarded_node: ServiceProcess) -> None:
    await _unreading_flood(guarded_node, "127.0.8.3", client_frame(Opcode.PING, b"x" * 16))


async def test_bad_ops_without_reading_the_errors(guarded_node: ServiceProcess) -> None:
    await _unreading_flood(guarded_node, "127.0.8.4", client_frame(Opcode.TEXT, b"{}"))


async def test_subscribe_ops_without_reading_the_replays(guarded_node: ServiceProcess) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        first = await publish(client, guarded_node, "Replayed", ("asia",))
        for i in range(29):
            await publish(client, guarded_node, f"Replayed {i}", ("asia",))
    op = json.dumps({"op": "subscribe", "region": "asia", "last_event_id": first["id"]}).encode()
    await _unreading_flood(guarded_node, "127.0.8.5", client_frame(Opcode.TEXT, op), "?region=asia")
