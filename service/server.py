"""Run the node under uvicorn with the protocol that takes over the subscribe routes."""

from __future__ import annotations

import copy
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from service.app import create_app
from service.config import Settings

HTTP_PROTOCOL = "service.transports.http:BreakingHttpProtocol"


def app_factory() -> Starlette:
    """Each worker process reads the settings from its environment."""
    return create_app(Settings())


def _log_config(level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["breaking_push"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Blocks until SIGTERM/SIGINT; then subscribers are told to reconnect elsewhere."""
    uvicorn.run(
        "service.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HTTP_PROTOCOL,
        ws="websockets-sansio",
        loop="uvloop",
        lifespan="on",
        log_config=_log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
        # Subscribers are long-lived by design; the backlog absorbs reconnect storms.
        backlog=4096,
    )
