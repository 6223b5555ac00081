"""The Python client shows corrections and retractions: in the listing, the event stream and the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
from breaking_client import BreakingClient, Event, LiveAlerts

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
        wrong = await client.publish(f"{tag} Wrong city", regions=["asia"], language="en")
        retraction = await client.retract(wrong.id, "Reported in error")
        seen: list[str] = []
        async with asyncio.timeout(10):
            async for event in events:
                assert isinstance(event, Event)
                board.apply(event)
                seen.append(event.id)
                if event.id == retraction.id:
                    break
        await events.aclose()  # type: ignore[attr-defined]
        listed = {a.alert_id: a for a in await client.live_alerts(regions=["asia"])}
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
