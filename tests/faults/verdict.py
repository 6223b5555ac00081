"""The promise every fault test checks: all of it, exactly once, in order, or `reset`."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support.clients import Received


def assert_no_silent_gap(
    published: Sequence[str], received: Received, who: str = "", *, unanswered: int = 0
) -> None:
    """`received` got every id of `published` once and in order; or, for each run of ids it
    did not get, it got a `reset` telling it to reload.

    `published` must end with an id published after the last fault, so a subscriber that
    heard nothing since cannot pass. Up to `unanswered` other ids may arrive: publishes whose
    answer was lost to the fault may or may not have been stored, and are not promised.
    """
    got = received.ids
    resets = len(received.of_kind("reset"))
    index = {event_id: i for i, event_id in enumerate(published)}
    unknown = [event_id for event_id in got if event_id not in index]
    summary = f"{who}: {len(published)} acknowledged, {len(got)} delivered, {resets} reset"
    if unknown:
        summary += f", {len(unknown)} delivered whose answer was lost"
    print(summary)
    assert len(set(got)) == len(got), f"{summary}: duplicates"
    assert len(unknown) <= unanswered, f"{summary}: never published {unknown[:3]}"
    got = [event_id for event_id in got if event_id in index]
    assert got[-1:] == [published[-1]], f"{summary}: the last alert did not arrive"
    positions = [index[event_id] for event_id in got]
    assert positions == sorted(positions), f"{summary}: out of order"
    runs = [(a + 1, b) for a, b in zip([-1, *positions], positions, strict=False) if b > a + 1]
    missing = sum(b - a for a, b in runs)
    assert len(runs) <= resets, (
        f"{summary}: {missing} missing in {len(runs)} runs, from {published[runs[0][0]]}"
    )
