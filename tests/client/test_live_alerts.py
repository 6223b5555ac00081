"""The Python client shows corrections and retractions: in the listing, the event stream and the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
from breaking_client import BreakingClient, Event, LiveAlerts
from breaking_client.cli import format_event

from tests.support.processes import ServiceProcess


def _auth(node: ServiceProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.token}"}


async def test_live_alerts_mark_corrections_and_keep_retractions(
    client_memory_node: ServiceProcess,
) -> None:
    node = client_memory_node
    tag = uuid.uuid4().hex[:6]
    async with BreakingClient(node.url, node.token) as client:
        first = await client.publish(f"{tag} Tokio quake", regions=["asia"], language="en")
        board = LiveAlerts(await client.live_alerts(regions=["asia"]))
        events = client.events(regions=["asia"], last_event_id=first.id)
        correction = await client.correct(first.id, f"{tag} Tokyo quake")
        seen: list[str] = []
        retraction: Event | None = None
        async with asyncio.timeout(10):
            async for event in events:
                assert isinstance(event, Event)
                board.apply(event)
                seen.append(event.id)
                if event.id == correction.id:
                    # Published while the board is live: a resume after the retraction
                    # would leave the retracted alert out (its text is taken down).
                    wrong = await client.publish(
                        f"{tag} Wrong city", regions=["asia"], language="en"
                    )
                    retraction = await client.retract(wrong.id, "Reported in error")
                if retraction is not None and event.id == retraction.id:
                    break
        await events.aclose()  # type: ignore[attr-defined]
        listed = {a.alert_id: a for a in await client.live_alerts(regions=["asia"])}
    assert retraction is not None
    assert seen == [correction.id, wrong.id, retraction.id]
    shown = next(a for a in board.alerts if a.alert_id == first.id)
    assert (shown.headline, shown.corrected, shown.original_headline) == (
        f"{tag} Tokyo quake",
        True,
        f"{tag} Tokio quake",
    )
    assert wrong.id not in {a.alert_id for a in board.alerts}
    gone = board.retracted[0]
    assert (gone.alert.headline, gone.reason, gone.at) == (
        f"{tag} Wrong city",
        "Reported in error",
        retraction.published_at,
    )
    assert listed[first.id].corrected
    assert listed[first.id].original_headline == f"{tag} Tokio quake"


def test_cli_alerts_marks_a_corrected_alert(client_memory_node: ServiceProcess) -> None:
    node = client_memory_node
    tag = uuid.uuid4().hex[:6]
    body = {"headline": f"{tag} first words", "regions": ["africa"], "language": "en"}
    alert = httpx.post(f"{node.url}/v1/alerts", json=body, headers=_auth(node)).json()
    fixed = httpx.post(
        f"{node.url}/v1/alerts/{alert['id']}/corrections",
        json={"headline": f"{tag} better words"},
        headers=_auth(node),
    )
    assert fixed.status_code == 201
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKING_")}
    done = subprocess.run(
        [sys.executable, "-m", "service", "alerts", "--url", node.url, "--region", "africa"],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if tag in line)
    assert line.endswith(f"{tag} better words  [updated; first: {tag} first words]")


def test_listen_lines_say_what_a_correction_replaced_and_a_retraction_withdrew() -> None:
    alert = Event.model_validate(
        {
            "id": "5-0", "type": "alert", "alert_id": "5-0", "headline": "Tokio quake",
            "regions": ["asia"], "language": "en", "priority": "breaking",
            "published_at": "2026-11-24T15:00:00.000Z", "expires_at": "2026-11-24T21:00:00.000Z",
        }
    )  # fmt: skip
    correction = alert.model_copy(update={"id": "6-0", "type": "correction", "headline": "Tokyo"})
    retraction = alert.model_copy(
        update={"id": "7-0", "type": "retraction", "headline": None, "reason": "Wrong city"}
    )
    board = LiveAlerts([alert])
    before = board.get("5-0")
    board.apply(correction)
    assert format_event(correction, before).endswith("5-0  Tokyo  [was: Tokio quake]")
    corrected = board.get("5-0")
    assert corrected is not None
    assert format_event(corrected).endswith("Tokyo  [updated; first: Tokio quake]")
    board.apply(retraction)
    line = format_event(retraction, corrected)
    assert line.endswith("5-0  reason: Wrong city  [withdrawn: Tokyo]")
    assert format_event(retraction).endswith("5-0  reason: Wrong city")
    assert board.get("5-0") is None
    assert board.retracted[0].reason == "Wrong city"
