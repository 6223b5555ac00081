"""The attacks of issue 10 against one node, with its RSS before each and at its peak.

`python -m bench.abuse [--source DIR]` runs them against this checkout, or against the
`service` package of another source tree (an older commit exported to DIR), so the same
attacks give the before and after figures. Loopback only, bounded in bytes and time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
from websockets.frames import Opcode

from tests.abuse.attacks import (
    client_frame,
    connect,
    endless_header,
    flood,
    read_answer,
    slow_sockets,
    socket_answers,
    watch_rss,
    ws_open,
)
from tests.support.processes import ServiceProcess, service_env

MB = 1024 * 1024


def _status(port: int, request: bytes) -> str:
    try:
        with connect(port, "127.0.9.1") as sock:
            sock.sendall(request)
            return str(read_answer(sock, timeout=10).status)
    except OSError as exc:
        return f"no answer ({type(exc).__name__})"


def _ws_unread(port: int, unit: bytes, total: int, source: str, query: str = "") -> str:
    with ws_open(port, source, query) as sock:
        result = flood(sock, unit, total)
        # Held (unread) for 6 more seconds: does the node let it go?
        sock.settimeout(0.2)
        deadline = time.monotonic() + 6
        dropped = False
        while time.monotonic() < deadline and not dropped:
            try:
                sock.send(b"\x00")
            except TimeoutError:
                pass
            except OSError:
                dropped = True
            time.sleep(0.2)
    return f"sent {result.sent / MB:.1f} MB, {result.outcome}; dropped: {dropped}"


def _replay_ops(node: ServiceProcess) -> str:
    first = None
    for i in range(30):
        response = httpx.post(
            f"{node.url}/v1/alerts",
            json={"headline": f"Replayed {i}", "regions": ["asia"], "language": "en"},
            headers={"Authorization": f"Bearer {node.token}"},
        )
        first = first or response.json()["id"]
    op = json.dumps({"op": "subscribe", "region": "asia", "last_event_id": first}).encode()
    return _ws_unread(
        node.port, client_frame(Opcode.TEXT, op), int(1.4 * MB), "127.0.9.3", "?region=asia"
    )


def _slowloris(port: int) -> str:
    socks: list[socket.socket] = []
    for i in range(10):
        socks += slow_sockets(port, 200, f"127.0.10.{i + 1}")
    try:
        for second in range(15):
            time.sleep(1)
            if second % 5 == 4:
                for sock in socks:
                    with suppress(OSError):
                        sock.send(b"X")
        answers = socket_answers(socks)
        open_ = answers.pop("open", 0)
        return f"{open_} of {len(socks)} still open after 15 s; answered: {answers}"
    finally:
        for sock in socks:
            sock.close()


def _signin(node: ServiceProcess) -> str:
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=5) as client:
        for i in range(3000):
            code = client.post(
                f"{node.url}/v1/alerts",
                json={"headline": "x", "regions": ["mena"], "language": "en"},
                headers={"Authorization": f"Bearer guess-{i:016d}"},
            ).status_code
            statuses[code] = statuses.get(code, 0) + 1
    return ", ".join(f"{count} x {code}" for code, count in sorted(statuses.items()))


def _one_address(port: int) -> str:
    socks, failed = [], 0
    for _ in range(1500):
        try:
            socks.append(connect(port, "127.0.11.1"))
        except OSError:
            failed += 1
    try:
        time.sleep(2)
        ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
        answers = socket_answers(socks)
        return f"{failed} connects failed; after 2 s: {answers}; /healthz {ok}"
    finally:
        for sock in socks:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, help="a source tree whose `service` to run")
    args = parser.parse_args()
    env = service_env()
    # The test nodes' environment lifts these two for its shared loopback clients; the
    # attacks here meet the defaults.
    env.pop("BREAKING_MAX_CONNECTIONS_PER_IP")
    env.pop("BREAKING_SIGNIN_FAILURES_PER_MINUTE")
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    node = ServiceProcess(env=env)
    here = Path.cwd()
    # `python -m service` imports the package from its working directory first.
    os.chdir(args.source or here)
    try:
        node.start()
    finally:
        os.chdir(here)
    assert node.proc is not None
    attacks: list[tuple[str, Callable[[], str]]] = [
        (
            "WS pings, never reading (2.9 MB)",
            lambda: _ws_unread(
                node.port, client_frame(Opcode.PING, b""), int(2.9 * MB), "127.0.9.2"
            ),
        ),
        (
            "WS tiny invalid ops, never reading the errors (2.9 MB)",
            lambda: _ws_unread(
                node.port, client_frame(Opcode.TEXT, b"{}"), int(2.9 * MB), "127.0.9.6"
            ),
        ),
        ("WS subscribe ops with replays, never reading (1.4 MB)", lambda: _replay_ops(node)),
        (
            "endless header on /v1/events (48 MB)",
            lambda: str(endless_header(node.port, "/v1/events", 48 * MB, "127.0.9.4")),
        ),
        (
            "endless header on /v1/alerts (48 MB)",
            lambda: str(endless_header(node.port, "/v1/alerts", 48 * MB, "127.0.9.5")),
        ),
        (
            "10,000 headers",
            lambda: _status(
                node.port,
                b"GET /v1/alerts HTTP/1.1\r\nHost: x\r\n"
                + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
                + b"\r\n",
            ),
        ),
        (
            "one 1 MB header",
            lambda: _status(
                node.port, b"GET /v1/alerts HTTP/1.1\r\nHost: x\r\nX: " + b"a" * MB + b"\r\n\r\n"
            ),
        ),
        ("2,000 slowloris sockets", lambda: _slowloris(node.port)),
        ("3,000 wrong tokens", lambda: _signin(node)),
        ("1,500 connections from one address", lambda: _one_address(node.port)),
    ]
    try:
        for name, attack in attacks:
            with watch_rss(node.proc.pid) as rss:
                outcome = attack()
            print(f"{name}: {outcome}; {rss}", flush=True)
            time.sleep(1)
    finally:
        node.kill()
        node.log.unlink(missing_ok=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
