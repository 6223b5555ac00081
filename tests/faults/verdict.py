"""The promise every fault test checks: all of it, exactly once, in order, or `reset`."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support.clients import Received


def assert_no_silent_gap(published: Sequence[str], received: Received, who: str = "") -> None:
    """`received` got every id of `published` once and in order; or it got `reset`, and what
    it got is `published` with one run left out, the run that `reset` told it to reload.

    `published` must end with an id published after the fault, so a subscriber that heard
    nothing since cannot pass.
    """
    got = received.ids
    resets = len(received.of_kind("reset"))
    summary = f"{who}: {len(published)} published, {len(got)} delivered, {resets} reset"
    print(summary)
    assert len(set(got)) == len(got), f"{summary}: duplicates"
    if resets == 0:
        missing = [i for i in published if i not in set(got)]
        assert got == list(published), f"{summary}: {len(missing)} missing, from {missing[:3]}"
        return
    assert got[-1:] == [published[-1]], f"{summary}: the sentinel did not arrive"
    head = 0
    while head < len(got) and got[head] == published[head]:
        head += 1
    tail = got[head:]
    assert tail == list(published[len(published) - len(tail) :]), f"{summary}: out of order"
