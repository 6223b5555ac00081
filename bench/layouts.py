"""Who follows which regions, where each alert goes, and the exactly-once check over both.

A layout cycles subscribers through region sets and alerts through region lists, so the
bench knows, for every subscriber and every alert, whether it must arrive (exactly once) or
must not arrive at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bench.loadgen import SubResult

Regions = tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """Subscribers follow `follows[i % len]`; alert number k goes to `alerts[k % len]`."""

    name: str
    follows: tuple[Regions, ...]
    alerts: tuple[Regions, ...]

    def regions_of(self, seq: int) -> Regions:
        return self.alerts[seq % len(self.alerts)]

    def following(self, n: int, width: int = 1) -> list[Regions]:
        """The regions of N subscribers, `width` in a row alike (one per transport)."""
        return [self.follows[(i // width) % len(self.follows)] for i in range(n)]

    def matches(self, follows: Regions, seq: int) -> bool:
        return not set(follows).isdisjoint(self.regions_of(seq))


ALERT_REGION = "mena"
OTHER_REGIONS = (
    "africa",
    "asia",
    "asia-pacific",
    "europe",
    "latin-america",
    "palestine",
    "us-canada",
)
# Half the subscribers follow the alert's region, the other half one other region each.
ONE_REGION = Layout(
    "one-region",
    follows=tuple(r for other in OTHER_REGIONS for r in ((ALERT_REGION,), (other,))),
    alerts=((ALERT_REGION,),),
)
# Alerts to two and three regions in turn (mena,palestine is the seed site's common case);
# subscribers follow one to three regions, some of them two or three of the same alert's
# (delivered once all the same). Half match a two-region alert, five eighths a three-region one.
MULTI_REGION = Layout(
    "multi-region",
    follows=(
        ("mena",),
        ("africa",),
        ("mena", "palestine"),
        ("asia", "us-canada"),
        ("palestine",),
        ("africa", "asia-pacific", "latin-america"),
        ("europe", "mena", "palestine"),
        ("asia", "europe"),
    ),
    alerts=(("mena", "palestine"), ("europe", "mena", "palestine")),
)
# Everyone follows the alert's region: every alert to every subscriber (the workers' runs).
EVERYONE = Layout("everyone", follows=((ALERT_REGION,),), alerts=((ALERT_REGION,),))
LAYOUTS = {layout.name: layout for layout in (ONE_REGION, MULTI_REGION, EVERYONE)}


def verify(
    layout: Layout,
    follows: Sequence[Regions],
    results: Sequence[SubResult],
    expected: Sequence[int],
) -> list[str]:
    """Every subscriber got each expected alert it matches exactly once, and nothing else."""
    failed = lost = duplicated = leaked = 0
    wanted = set(expected)
    for regions, result in zip(follows, results, strict=True):
        if not result.ok:
            failed += 1
            continue
        counts = Counter(seq for seq, _ in result.deliveries)
        for seq in expected:
            if layout.matches(regions, seq):
                lost += counts[seq] == 0
                duplicated += counts[seq] > 1
        leaked += sum(
            count
            for seq, count in counts.items()
            if seq not in wanted or not layout.matches(regions, seq)
        )
    problems = [
        f"{count} {what}"
        for count, what in (
            (failed, "subscribers failed"),
            (lost, "deliveries lost"),
            (duplicated, "deliveries duplicated"),
            (leaked, "deliveries leaked"),
        )
        if count
    ]
    errors = {r.error for r in results if r.error}
    return problems + [f"e.g. {e}" for e in sorted(errors)[:1]]
