"""The event as it travels inside a node: parsed once, encoded once per transport."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.frames import Frame, Opcode

EventKey = tuple[int, int]
"""An event id as the pair (milliseconds, sequence): the order ids are compared in."""

PRIORITY_RANK = {"update": 0, "breaking": 1, "flash": 2}

_ID = re.compile(r"\A(\d{1,15})-(\d{1,15})\Z")


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


@dataclass(frozen=True, slots=True)
class Event:
    """One published event with its wire encodings, built once per node."""

    id: str
    key: EventKey
    type: str
    alert_id: str
    regions: tuple[str, ...]
    language: str
    category: str | None
    priority: int
    expires_ms: int
    payload: dict[str, Any]
    sse: bytes
    ws: bytes

    @classmethod
    def decode(cls, event_id: str, stored: bytes | str) -> Event:
        """Build the event from its id and the body the broker stored (see `stored_body`)."""
        key = parse_id(event_id)
        body: dict[str, Any] = orjson.loads(stored)
        ttl = body.pop("ttl", None)
        expires_ms = body.pop("expires_ms", None)
        if expires_ms is None:
            expires_ms = key[0] + int(ttl) * 1000
        kind = body.pop("type")
        alert_id = body.pop("alert_id", event_id)
        payload = {"id": event_id, "type": kind, "alert_id": alert_id, **body}
        payload["published_at"] = iso_ms(key[0])
        payload["expires_at"] = iso_ms(expires_ms)
        data = orjson.dumps(payload)
        ident = event_id.encode()
        wire_type = kind.encode()
        ws_json = b'{"event":"%s","id":"%s","data":%s}' % (wire_type, ident, data)
        return cls(
            id=event_id,
            key=key,
            type=kind,
            alert_id=alert_id,
            regions=tuple(body["regions"]),
            language=body["language"],
            category=body.get("category"),
            priority=PRIORITY_RANK[body["priority"]],
            expires_ms=expires_ms,
            payload=payload,
            sse=b"id: %s\nevent: %s\ndata: %s\n\n" % (ident, wire_type, data),
            ws=ws_frame(ws_json),
        )


def stored_body(fields: dict[str, Any]) -> bytes:
    """The broker's stored form: the event without the fields its id determines."""
    return orjson.dumps({k: v for k, v in fields.items() if v is not None})


def ws_frame(text: bytes) -> bytes:
    """An unmasked server text frame: the same bytes serve every WebSocket subscriber."""
    return Frame(Opcode.TEXT, text).serialize(mask=False)


def sse_control(event: str, data: dict[str, Any]) -> bytes:
    """A non-alert SSE event (`reset`) with no id, so it never moves the client's position."""
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps(data))


def ws_control(event: str, event_id: str | None, data: dict[str, Any]) -> bytes:
    """A non-alert WebSocket frame (`ready`, `reset`, `error`)."""
    return ws_frame(orjson.dumps({"event": event, "id": event_id, "data": data}))
