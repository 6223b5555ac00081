"""What a push says: a small JSON the service worker turns into (or out of) a notification."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from service.events import Event

# RFC 8030 caps nothing, but push services keep messages at most about four weeks.
_MAX_TTL_S = 28 * 24 * 3600
_URGENCY = {2: "high", 1: "normal", 0: "low"}
_RTL = frozenset({"ar"})


@dataclass(frozen=True, slots=True)
class PushMessage:
    """The plaintext and the RFC 8030 headers shared by every subscription of one event."""

    body: bytes
    topic: str
    urgency: str
    expires_ms: int

    def ttl(self, now_ms: int | None = None) -> int:
        """Seconds the push service may hold it: until the alert expires."""
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        return max(0, min((self.expires_ms - now) // 1000, _MAX_TTL_S))


def message_for(event: Event) -> PushMessage:
    """A correction and a retraction share their alert's Topic, so they replace its push."""
    data = event.payload
    body = {
        "type": event.type,
        "id": event.id,
        "alert_id": event.alert_id,
        "language": event.language,
        "dir": "rtl" if event.language in _RTL else "ltr",
        "priority": data.get("priority"),
        "headline": data.get("headline"),
        "url": data.get("url"),
    }
    return PushMessage(
        orjson.dumps({k: v for k, v in body.items() if v is not None}),
        topic=topic_of(event.alert_id),
        urgency=_URGENCY[event.priority],
        expires_ms=event.expires_ms,
    )


def topic_of(alert_id: str) -> str:
    """RFC 8030 Topic: at most 32 characters of the base64url alphabet, which an id is."""
    return alert_id[:32]
