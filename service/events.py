"""The event as it travels inside a node: its payload decoded once, its JSON bytes built once.

Wire encodings (SSE, WebSocket frames) belong to the transports: each one is a `Codec`, and
an event keeps what a codec made of it, so every transport encodes it once per node, on
first use, whatever number of subscribers or replays then write those bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

EventKey = tuple[int, int]
"""An event id as the pair (milliseconds, sequence): the order ids are compared in."""

PRIORITY_RANK = {"update": 0, "breaking": 1, "flash": 2}

_ID = re.compile(r"\A(\d{1,15})-(\d{1,15})\Z")


class UndecodableEvent(ValueError):
    """A stored event this node cannot read (corrupt, or written by a newer version)."""


class Codec(Protocol):
    """A transport's wire encoding of events; one object per transport per node."""

    name: str
    slot: int

    def encode(self, event: Event) -> bytes:
        """The bytes that carry `event` to every subscriber of this transport."""
        ...

    def __hash__(self) -> int:
        """Codecs key caches of encoded bytes."""
        ...


def parse_id(value: str) -> EventKey:
    """Parse `"<ms>-<seq>"`; raises ValueError on anything else."""
    match = _ID.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not an event id (expected <milliseconds>-<sequence>)")
    return int(match[1]), int(match[2])


def format_id(key: EventKey) -> str:
    return f"{key[0]}-{key[1]}"


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC with milliseconds, as in the event JSON."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


class Event:
    """One published event: routing fields, the payload, its JSON, and per-codec bytes."""

    __slots__ = (
        "_wire",
        "alert_id",
        "category",
        "data",
        "expires_ms",
        "id",
        "key",
        "language",
        "payload",
        "priority",
        "regions",
        "type",
    )

    def __init__(self, event_id: str, key: EventKey, payload: dict[str, Any], expires_ms: int):
        self.id = event_id
        self.key = key
        self.payload = payload
        self.type: str = payload["type"]
        self.alert_id: str = payload["alert_id"]
        self.regions: tuple[str, ...] = tuple(payload["regions"])
        self.language: str = payload["language"]
        self.category: str | None = payload.get("category")
        self.priority = PRIORITY_RANK[payload["priority"]]
        self.expires_ms = expires_ms
        self.data = orjson.dumps(payload)
        self._wire: dict[int, bytes] = {}

    @classmethod
    def decode(cls, event_id: str, stored: bytes | str) -> Event:
        """Build the event from its id and the body the broker stored (see `stored_body`).

        Raises UndecodableEvent if the body is not one this version understands.
        """
        try:
            key = parse_id(event_id)
            body: dict[str, Any] = orjson.loads(stored)
            ttl = body.pop("ttl", None)
            expires_ms = body.pop("expires_ms", None)
            if expires_ms is None:
                expires_ms = key[0] + int(ttl) * 1000
            event_type = body.pop("type")
            alert_id = body.pop("alert_id", event_id)
            payload = {"id": event_id, "type": event_type, "alert_id": alert_id, **body}
            payload["published_at"] = iso_ms(key[0])
            payload["expires_at"] = iso_ms(expires_ms)
            return cls(event_id, key, payload, expires_ms)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise UndecodableEvent(f"event {event_id!r}: {exc!r}") from exc

    def wire(self, codec: Codec) -> bytes:
        """This event as `codec` puts it on the wire, encoded on first use."""
        encoded = self._wire.get(codec.slot)
        if encoded is None:
            encoded = self._wire[codec.slot] = codec.encode(self)
        return encoded

    def __repr__(self) -> str:
        return f"Event({self.id}, {self.type}, {','.join(self.regions)})"


def stored_body(fields: dict[str, Any]) -> bytes:
    """The broker's stored form: the event without the fields its id determines."""
    return orjson.dumps({k: v for k, v in fields.items() if v is not None})
