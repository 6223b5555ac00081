"""Web Push end to end on the memory broker: a real node, a local push service, real crypto."""

from __future__ import annotations

from tests.push.helpers import publish, subscriber
from tests.push.pushservice import PushService
from tests.support.clients import sse_subscriber, ws_subscriber
from tests.support.processes import ServiceProcess


async def test_flash_alert_reaches_each_matching_subscription_once(
    push_node: ServiceProcess, pushes: PushService
) -> None:
    mena = [pushes.browser(f"mena-{i}") for i in range(5)]
    europe = pushes.browser("europe")
    flash_only = pushes.browser("flash-only")
    breaking_ok = pushes.browser("breaking-ok")
    async with subscriber(push_node) as subs:
        for browser in mena:
            await subs.subscribe(browser, regions=["mena"], language="en")
        await subs.subscribe(europe, regions=["europe"])
        await subs.subscribe(flash_only, regions=["mena"], priority="flash")
        await subs.subscribe(breaking_ok, regions=["mena"], priority="breaking")

        flash = await publish(push_node, subs.client, headline="Ceasefire announced")
        await pushes.wait(lambda: all(pushes.received(b.name) for b in mena))
        breaking = await publish(
            push_node, subs.client, headline="Talks resume", priority="breaking"
        )
        await pushes.wait(
            lambda: pushes.received("breaking-ok") and len(pushes.received("breaking-ok")) == 2
        )
        # Sentinels: each node pushes one event after the other, so once these arrive every
        # push of the events before them has been made.
        sentinel = await publish(
            push_node, subs.client, headline="Sentinel", regions=["mena", "europe"]
        )
        await pushes.wait(
            lambda: (
                pushes.received("europe")
                and pushes.received("flash-only")[-1:]
                and pushes.received("flash-only")[-1].message["id"] == sentinel["id"]
            )
        )

    assert not pushes.refused
    for browser in mena:
        ids = [p.message["id"] for p in pushes.received(browser.name)]
        assert ids == [flash["id"], sentinel["id"]], browser.name
        first = pushes.received(browser.name)[0]
        assert first.message["headline"] == "Ceasefire announced"
        assert first.message["dir"] == "ltr"
        assert first.headers["urgency"] == "high"
        assert first.headers["topic"] == flash["alert_id"]
        assert 6 * 3600 - 60 <= int(first.headers["ttl"]) <= 6 * 3600
    assert [p.message["id"] for p in pushes.received("europe")] == [sentinel["id"]]
    assert [p.message["id"] for p in pushes.received("flash-only")] == [flash["id"], sentinel["id"]]
    ok = [p.message["id"] for p in pushes.received("breaking-ok")]
    assert ok == [flash["id"], breaking["id"], sentinel["id"]]
    assert pushes.received("breaking-ok")[1].headers["urgency"] == "normal"


async def test_correction_replaces_and_retraction_closes(
    push_node: ServiceProcess, pushes: PushService
) -> None:
    reader = pushes.browser("reader-ar")
    async with subscriber(push_node) as subs:
        await subs.subscribe(reader, regions=["mena"], language="ar")
        alert = await publish(
            push_node,
            subs.client,
            headline="عاجل: وقف إطلاق النار",
            language="ar",
            ttl_seconds=600,
            url="https://news.example/ar/1",
        )
        token = {"Authorization": f"Bearer {push_node.token}"}
        corrected = await subs.client.post(
            f"{push_node.url}/v1/alerts/{alert['id']}/corrections",
            json={"headline": "عاجل: هدنة لمدة يومين"},
            headers=token,
        )
        assert corrected.status_code == 201, corrected.text
        retracted = await subs.client.request(
            "DELETE",
            f"{push_node.url}/v1/alerts/{alert['id']}",
            json={"reason": "wrong"},
            headers=token,
        )
        assert retracted.status_code == 200, retracted.text
        await pushes.wait(lambda: len(pushes.received(reader.name)) == 3)

    got = pushes.received(reader.name)
    assert [p.message["type"] for p in got] == ["alert", "correction", "retraction"]
    assert {p.headers["topic"] for p in got} == {alert["alert_id"]}
    assert {p.message["alert_id"] for p in got} == {alert["id"]}
    assert got[0].message["dir"] == "rtl"
    assert got[0].message["language"] == "ar"
    assert got[0].message["url"] == "https://news.example/ar/1"
    assert got[1].message["headline"] == "عاجل: هدنة لمدة يومين"
    assert "headline" not in got[2].message
    assert all(int(p.headers["ttl"]) <= 600 for p in got)


async def test_gone_subscription_is_removed(push_node: ServiceProcess, pushes: PushService) -> None:
    gone = pushes.browser("gone")
    witness = pushes.browser("witness")
    pushes.answers["gone"] = [(410, {})]
    async with subscriber(push_node) as subs:
        await subs.subscribe(gone, regions=["mena"])
        await publish(push_node, subs.client)
        await pushes.wait(lambda: len(pushes.attempts.get("gone", [])) == 1)
        # The next event's push means the job of the 410 is over, removal included.
        await subs.subscribe(witness, regions=["europe"])
        await publish(push_node, subs.client, regions=["europe"])
        await pushes.wait(lambda: pushes.received("witness"))
        # The node forgot it: subscribing again makes a new subscription (201, not 200).
        again = await subs.subscribe(gone, regions=["mena"])
        assert again.status_code == 201
    assert not pushes.received("gone")
    assert len(pushes.attempts["gone"]) == 1


async def test_too_many_requests_is_retried_after_retry_after(
    push_node: ServiceProcess, pushes: PushService
) -> None:
    busy = pushes.browser("busy")
    pushes.answers["busy"] = [(429, {"retry-after": "1"})]
    async with subscriber(push_node) as subs:
        await subs.subscribe(busy, regions=["mena"])
        alert = await publish(push_node, subs.client)
        await pushes.wait(lambda: pushes.received("busy"))
    first, second = pushes.attempts["busy"]
    assert second - first >= 1.0
    assert [p.message["id"] for p in pushes.received("busy")] == [alert["id"]]


async def test_hanging_push_service_does_not_delay_sse_or_websocket(
    push_node: ServiceProcess, pushes: PushService
) -> None:
    stuck = [pushes.browser(f"stuck-{i}") for i in range(3)]
    pushes.hang.update(b.name for b in stuck)
    async with subscriber(push_node) as subs:
        for browser in stuck:
            await subs.subscribe(browser, regions=["mena"])
        async with (
            sse_subscriber(push_node, region="mena") as sse,
            ws_subscriber(push_node, region="mena") as ws,
        ):
            first = await publish(push_node, subs.client)
            await pushes.wait(lambda: pushes.held == 3)
            # Every push lane of the node now waits on the push service: the alerts after it
            # still reach SSE and WebSocket subscribers at once.
            later = [await publish(push_node, subs.client, headline=f"Later {i}") for i in range(3)]
            wanted = [first["id"], *(event["id"] for event in later)]
            assert [e["id"] for e in await sse.wait_events(4, within=2)] == wanted
            assert [e["id"] for e in await ws.received.wait_events(4, within=2)] == wanted
            assert pushes.held == 3
            assert not pushes.received("stuck-0")
        pushes.release()
        await pushes.wait(lambda: all(len(pushes.received(b.name)) == 4 for b in stuck))


async def test_server_errors_are_retried_and_refusals_are_not(
    push_node: ServiceProcess, pushes: PushService
) -> None:
    flaky = pushes.browser("flaky")
    refusing = pushes.browser("refusing")
    pushes.answers["flaky"] = [(503, {}), (502, {})]
    pushes.answers["refusing"] = [(413, {})]
    async with subscriber(push_node) as subs:
        await subs.subscribe(flaky, regions=["mena"])
        await subs.subscribe(refusing, regions=["mena"])
        first = await publish(push_node, subs.client)
        await pushes.wait(lambda: pushes.received("flaky"))
        # The next event's push to `refusing` means the first job is over for it.
        second = await publish(push_node, subs.client)
        await pushes.wait(lambda: pushes.received("refusing"))
    # Two server errors, then the third attempt is accepted.
    accepted = pushes.received("flaky")[0]
    assert accepted.message["id"] == first["id"]
    assert len([t for t in pushes.attempts["flaky"] if t <= accepted.at]) == 3
    assert [p.message["id"] for p in pushes.received("refusing")] == [second["id"]]
    assert len(pushes.attempts["refusing"]) == 2
