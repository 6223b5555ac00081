"""What the Python peers share: the event they build from a posted alert."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

_seq = itertools.count()


def alert_event(alert: dict[str, Any]) -> dict[str, Any]:
    """The same event fields as breaking-push sends, so frames weigh the same."""
    ms = time.time_ns() // 1_000_000
    event_id = f"{ms}-{next(_seq)}"
    at = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
    return {"id": event_id, "type": "alert", "alert_id": event_id, **alert} | {
        "priority": "breaking",
        "published_at": at,
    }
