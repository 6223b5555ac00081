"""The listing says which alerts were corrected and what they first said, on both brokers."""

from __future__ import annotations

import uuid

import httpx

from tests.support.clients import publish
from tests.support.processes import ServiceProcess


async def test_a_corrected_alert_is_listed_as_corrected_with_its_first_headline(
    node: ServiceProcess,
) -> None:
    tag = uuid.uuid4().hex[:6]
    auth = {"Authorization": f"Bearer {node.token}"}
    async with httpx.AsyncClient() as client:
        plain = await publish(client, node, f"{tag} as first written", ("asia",))
        fixed = await publish(client, node, f"{tag} Tokio quake", ("asia",))
        for headline in (f"{tag} Tokyo quake", f"{tag} Tokyo quake: magnitude 6.1"):
            answer = await client.post(
                f"{node.url}/v1/alerts/{fixed['id']}/corrections",
                json={"headline": headline},
                headers=auth,
            )
            assert answer.status_code == 201
        listing = await client.get(f"{node.url}/v1/alerts", params={"region": "asia"})
        one = (await client.get(f"{node.url}/v1/alerts/{fixed['id']}")).json()
    mine = {a["id"]: a for a in listing.json()["alerts"] if a["headline"].startswith(tag)}
    assert mine[fixed["id"]]["corrected"] is True
    assert mine[fixed["id"]]["original_headline"] == f"{tag} Tokio quake"
    assert mine[fixed["id"]]["headline"] == f"{tag} Tokyo quake: magnitude 6.1"
    assert "corrected" not in mine[plain["id"]]
    assert one["original_headline"] == f"{tag} Tokio quake"
