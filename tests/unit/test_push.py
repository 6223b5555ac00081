"""Web Push pieces without a network: keys, settings, the message, Retry-After, the CLI."""

from __future__ import annotations

import email.utils
import time

import pytest
from pydantic import ValidationError

from service.cli import main
from service.config import Settings
from service.events import Event, stored_body
from service.push.keys import VapidKeys, generate, unb64url
from service.push.message import message_for
from service.push.sender import origin, retry_after
from tests.push.pushservice import verify_vapid


def _event(kind: str = "alert", priority: str = "flash", ttl: int = 600) -> Event:
    now_ms = time.time_ns() // 1_000_000
    body: dict[str, object] = {
        "type": kind,
        "headline": "عاجل",
        "regions": ["mena"],
        "language": "ar",
    }
    body |= {"priority": priority, "ttl": ttl}
    return Event.decode(f"{now_ms}-0", stored_body(body))


def test_generated_keys_sign_tokens_a_push_service_accepts() -> None:
    private, public = generate()
    assert len(unb64url(private)) == 32
    assert len(unb64url(public)) == 65
    keys = VapidKeys.load(private, "mailto:desk@news.example")
    assert keys.public_key == public
    header = keys.authorization("https://push.example:8443")
    claims = verify_vapid(header, public, "https://push.example:8443")
    assert claims["sub"] == "mailto:desk@news.example"
    # Signed once per audience, not once per push.
    assert keys.authorization("https://push.example:8443") is header
    with pytest.raises(ValueError, match="aud"):
        verify_vapid(header, public, "https://other.example")


def test_vapid_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKING_VAPID_PRIVATE_KEY", "not-a-key")
    with pytest.raises(ValidationError, match="32-byte"):
        Settings()
    monkeypatch.setenv("BREAKING_VAPID_PRIVATE_KEY", generate()[0])
    monkeypatch.setenv("BREAKING_VAPID_SUBJECT", "desk@news.example")
    with pytest.raises(ValidationError, match="mailto"):
        Settings()
    monkeypatch.setenv("BREAKING_VAPID_SUBJECT", "https://news.example/contact")
    assert Settings().vapid_subject == "https://news.example/contact"


@pytest.mark.parametrize(
    ("priority", "urgency"), [("flash", "high"), ("breaking", "normal"), ("update", "low")]
)
def test_message_urgency_topic_and_ttl(priority: str, urgency: str) -> None:
    event = _event(priority=priority, ttl=600)
    message = message_for(event)
    assert message.urgency == urgency
    assert message.topic == event.alert_id
    assert 595 <= message.ttl() <= 600
    assert message.ttl(event.expires_ms + 1) == 0


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after(later)
    assert seconds is not None
    assert 28 <= seconds <= 31


def test_audience_is_the_push_services_origin() -> None:
    assert origin("https://fcm.example:443/wp/abc?x=1") == "https://fcm.example:443"
    assert origin("http://127.0.0.1:4000/push/a") == "http://127.0.0.1:4000"


def test_cli_prints_a_usable_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vapid-keys"]) == 0
    lines = capsys.readouterr().out.splitlines()
    private = lines[0].removeprefix("BREAKING_VAPID_PRIVATE_KEY=")
    public = lines[1].rsplit(" ", 1)[1]
    assert VapidKeys.load(private, "mailto:a@b.example").public_key == public
