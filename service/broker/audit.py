"""The audit trail in the brokers: what a write records, and how a page of it is cut.

Both brokers write the entry in the same atomic step as the event it records, so there is
an entry for every published write and none for a replay or a refused one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

from service.events import EventKey, iso_ms, parse_id
from service.models import AuditEntry, AuditPage, AuditQuery


def audit_entry(
    entry_id: str,
    record: Mapping[str, Any],
    *,
    alert_id: str,
    event_id: str,
    headline_before: str | None,
) -> AuditEntry:
    """An entry from its stored parts; its time is its event's, given by the broker."""
    return AuditEntry(
        **record,
        id=entry_id,
        at=iso_ms(parse_id(event_id)[0]),
        alert_id=alert_id,
        event_id=event_id,
        headline_before=headline_before or None,
    )


def bounds(query: AuditQuery) -> tuple[EventKey | None, EventKey | None]:
    """The page's id range: entries below `before` (exclusive), at or above `since`."""
    before = parse_id(query.before) if query.before else None
    since = (int(query.since.timestamp() * 1000), 0) if query.since else None
    return before, since


async def cut_page(newest_first: AsyncIterable[AuditEntry], query: AuditQuery) -> AuditPage:
    """The first `limit` entries matching the filters, and whether an older page exists."""
    entries: list[AuditEntry] = []
    async for entry in newest_first:
        if query.editor is not None and entry.editor != query.editor:
            continue
        if query.alert_id is not None and entry.alert_id != query.alert_id:
            continue
        if len(entries) == query.limit:
            return AuditPage(entries=entries, next_before=entries[-1].id)
        entries.append(entry)
    return AuditPage(entries=entries)
