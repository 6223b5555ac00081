"""Event ids, encodings and settings parsing."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from service.config import Settings, parse_editor_tokens
from service.events import Event, UndecodableEvent, format_id, parse_id, stored_body
from service.transports.sse import SSE
from service.transports.ws import WS


@pytest.mark.parametrize("value", ["0-0", "1764000000123-0", "1-999"])
def test_ids_round_trip(value: str) -> None:
    assert format_id(parse_id(value)) == value


@pytest.mark.parametrize(
    "value", ["", "12", "a-1", "1-2-3", " 1-2", "1-2 ", "-1-0", "1" * 16 + "-0"]
)
def test_malformed_ids_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="not an event id"):
        parse_id(value)


def test_ids_order_numerically_not_as_text() -> None:
    assert parse_id("9-0") < parse_id("10-0")
    assert parse_id("10-2") < parse_id("10-10")


def test_event_encodings_carry_the_same_json() -> None:
    body = stored_body(
        {
            "type": "alert",
            "headline": 'Line "quoted" / ب',
            "regions": ["mena"],
            "language": "ar",
            "category": None,
            "priority": "flash",
            "ttl": 90,
        }
    )
    event = Event.decode("1764000000123-4", body)
    assert event.payload["published_at"] == "2025-11-24T16:00:00.123Z"
    assert event.payload["expires_at"] == "2025-11-24T16:01:30.123Z"
    assert "category" not in event.payload
    assert orjson.loads(event.data) == event.payload
    sse = event.wire(SSE)
    lines = sse.decode().split("\n")
    assert lines[:2] == ["id: 1764000000123-4", "event: alert"]
    assert orjson.loads(lines[2].removeprefix("data: ")) == event.payload
    assert sse.endswith(b"\n\n")
    ws = event.wire(WS)
    assert ws[0] == 0x81  # FIN + text opcode
    assert ws[1] & 0x80 == 0  # server frames are unmasked
    assert orjson.loads(ws[4:]) == {"event": "alert", "id": event.id, "data": event.payload}


def test_each_transport_encodes_an_event_once() -> None:
    calls: list[str] = []

    class Counting:
        name, slot = "counting", 0

        def encode(self, event: Event) -> bytes:
            calls.append(event.id)
            return b"x"

    event = Event.decode("1-0", _ALERT)
    codec = Counting()
    assert [event.wire(codec) for _ in range(3)] == [b"x"] * 3
    assert calls == ["1-0"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"5",
        b'{"type": "alert"}',
        b'{"type": "alert", "headline": "h", "regions": ["mena"], "language": "en",'
        b' "priority": "urgent", "ttl": 60}',
    ],
)
def test_undecodable_events_raise_one_named_error(body: bytes) -> None:
    with pytest.raises(UndecodableEvent, match="1-0"):
        Event.decode("1-0", body)


_ALERT = stored_body(
    {
        "type": "alert",
        "headline": "h",
        "regions": ["mena"],
        "language": "en",
        "priority": "flash",
        "ttl": 60,
    }
)


def test_editor_tokens_plain_and_region_scoped() -> None:
    desk, wire = parse_editor_tokens(
        ["desk:s3cret-desk-token", "wire:other-wire-token@europe+africa"]
    )
    assert desk.regions is None
    assert desk.allows(["mena", "asia"])
    assert wire.regions == frozenset({"europe", "africa"})
    assert wire.allows(["europe"])
    assert not wire.allows(["europe", "mena"])
    assert "other-wire-token" not in repr(wire)


@pytest.mark.parametrize(
    "bad",
    [
        "desk",
        "desk:",
        ":token-long-enough-1",
        "a:same-token-long-enough,b:same-token-long-enough",
        "desk:short-token",
        "wire:a-long-enough-token@atlantis",
        "desk:s3cret",
    ],
)
def test_bad_editor_tokens_refuse_to_start(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKING_EDITOR_TOKENS", bad)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKING_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("BREAKING_REGIONS", "north,south")
    monkeypatch.setenv("BREAKING_HEARTBEAT_SECONDS", "2.5")
    settings = Settings()
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.regions == ["north", "south"]
    assert settings.heartbeat_seconds == 2.5
    assert settings.redis_url is None
