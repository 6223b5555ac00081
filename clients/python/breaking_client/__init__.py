"""An asyncio client for breaking-push: follow live breaking news, publish as an editor."""

from breaking_client.client import BreakingClient
from breaking_client.errors import ApiError, BreakingError, ServiceUnavailableError
from breaking_client.models import (
    Event,
    FieldError,
    LiveAlerts,
    Meta,
    Problem,
    Reset,
    Retracted,
    event_key,
)

__all__ = [
    "ApiError",
    "BreakingClient",
    "BreakingError",
    "Event",
    "FieldError",
    "LiveAlerts",
    "Meta",
    "Problem",
    "Reset",
    "Retracted",
    "ServiceUnavailableError",
    "event_key",
]
