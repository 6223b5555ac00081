"""Run nodes under uvicorn with the protocol layer that takes over the subscribe routes.

One process is one node. With `--workers N`, N processes each bind their own listening
socket with SO_REUSEPORT, so the kernel spreads connections evenly across them (one shared
socket lets whichever worker wakes first take most of a reconnect storm).
"""

from __future__ import annotations

import copy
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from service.app import create_app
from service.config import Settings
from service.front import front_protocol
from service.node import Node
from service.takeover import takeover_protocol

log = logging.getLogger("breaking_push.server")

# Subscribers are long-lived by design; the backlog absorbs reconnect storms.
_BACKLOG = 4096
# A worker that dies sooner than this after starting is not restarted: it would only die again.
_MIN_UPTIME_S = 5.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _log_config(level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["breaking_push"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def run_node(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Serve one node in this process until SIGTERM/SIGINT; subscribers are told to come back."""
    app = create_app(settings)
    node: Node = app.state.node
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=front_protocol(takeover_protocol(node)),
        ws="websockets-sansio",
        loop="uvloop",
        lifespan="on",
        log_config=_log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
        backlog=_BACKLOG,
    )
    sockets = [_listening_socket(host, port)] if reuse_port else None
    uvicorn.Server(config).run(sockets=sockets)


def _worker(host: str, port: int, supervisor: int) -> None:
    """A worker process reads the settings from the environment it inherited."""
    _end_with(supervisor)
    run_node(Settings(), host, port, reuse_port=True)


def _end_with(supervisor: int) -> None:
    """SIGTERM this worker when the supervisor dies, even by SIGKILL: no orphan keeps the port."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:
        # It died before the request above took effect.
        raise SystemExit(1)


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run `workers` nodes on one port; returns the exit code."""
    if workers == 1:
        run_node(settings, host, port)
        return 0
    return _supervise(host, port, workers)


def _supervise(host: str, port: int, workers: int) -> int:
    """Start the workers, restart one that dies, and pass SIGTERM/SIGINT on to all of them."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        process = spawn.Process(
            target=_worker, args=(host, port, os.getpid()), name="breaking-push-worker"
        )
        process.start()
        return process, time.monotonic()

    procs = [start() for _ in range(workers)]

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in procs:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while any(process.is_alive() for process, _ in procs):
        for index, (process, started) in enumerate(procs):
            process.join(timeout=0.2)
            if process.is_alive() or stopping:
                continue
            if time.monotonic() - started < _MIN_UPTIME_S:
                log.error(
                    "worker %s exited with %s at start; stopping", process.pid, process.exitcode
                )
                code = process.exitcode or 1
                stop(signal.SIGTERM, None)
                break
            log.warning("worker %s exited with %s; restarting it", process.pid, process.exitcode)
            procs[index] = start()
    return code
