"""An authenticated editor: a name for logs and rate limits, and the regions they may write to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Editor:
    """`regions` None means every region."""

    name: str
    regions: frozenset[str] | None = None

    def allows(self, regions: Iterable[str]) -> bool:
        return self.regions is None or all(region in self.regions for region in regions)
