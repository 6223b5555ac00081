"""The hub's index picks exactly the subscribers whose filter matches, each once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import DEFAULT_REGIONS
from service.events import PRIORITY_RANK, Codec, Event, stored_body
from service.filters import Filter
from service.hub import Hub
from service.metrics import Metrics
from service.models import CATEGORIES, LANGUAGES
from service.transports.sse import SSE
from service.transports.ws import WS

CODECS: tuple[Codec, ...] = (SSE, WS)


@dataclass(eq=False)
class _Recorder(asyncio.Transport):
    """A transport that keeps what is written, standing in for a socket in pure index tests."""

    chunks: list[bytes] = field(default_factory=list)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass(eq=False)
class _Subscriber:
    filter: Filter
    codec: Codec
    transport: asyncio.Transport = field(default_factory=_Recorder)
    writing_paused: bool = False

    @property
    def chunks(self) -> list[bytes]:
        assert isinstance(self.transport, _Recorder)
        return self.transport.chunks

    def live_marker(self, position: tuple[int, int]) -> bytes:
        return b""

    def send_reset(self) -> None: ...
    def heartbeat(self, now: float) -> None: ...
    def drop(self, reason: str) -> None: ...


filters = st.builds(
    Filter,
    regions=st.none() | st.frozensets(st.sampled_from(DEFAULT_REGIONS), min_size=1, max_size=3),
    language=st.none() | st.sampled_from(LANGUAGES),
    category=st.none() | st.sampled_from(CATEGORIES),
    min_priority=st.sampled_from(sorted(PRIORITY_RANK.values())),
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    fields = {
        "type": "alert",
        "headline": "h",
        "regions": draw(
            st.lists(st.sampled_from(DEFAULT_REGIONS), min_size=1, max_size=3, unique=True)
        ),
        "language": draw(st.sampled_from(LANGUAGES)),
        "category": draw(st.none() | st.sampled_from(CATEGORIES)),
        "priority": draw(st.sampled_from(list(PRIORITY_RANK))),
        "ttl": 60,
    }
    return Event.decode("1764000000000-0", stored_body(fields))


@settings(max_examples=300, deadline=None)
@given(
    subscribed=st.lists(st.tuples(filters, st.sampled_from(CODECS)), max_size=30), event=events()
)
def test_index_matches_filters_exactly_once(
    subscribed: list[tuple[Filter, Codec]], event: Event
) -> None:
    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    subs = [_Subscriber(flt, codec) for flt, codec in subscribed]
    for sub in subs:
        hub.add(sub)
    hub.dispatch(event)
    for sub in subs:
        expected = [event.wire(sub.codec)] if sub.filter.matches(event) else []
        assert sub.chunks == expected


def test_removed_subscribers_receive_nothing_and_empty_buckets_go() -> None:
    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    sub = _Subscriber(Filter(regions=frozenset({"mena", "palestine"})), SSE)
    hub.add(sub)
    hub.remove(sub)
    hub.remove(sub)
    hub.dispatch(
        Event.decode(
            "1-0",
            stored_body(
                {
                    "type": "alert",
                    "headline": "h",
                    "regions": ["mena"],
                    "language": "en",
                    "priority": "flash",
                    "ttl": 60,
                }
            ),
        )
    )
    assert sub.chunks == []
    assert hub.census().total == 0
    # The index must not keep empty entries behind.
    assert hub._buckets == {}


def _census_by_hand(subs: list[_Subscriber]) -> tuple[dict[str, int], dict[str, int]]:
    by_transport = {codec.name: 0 for codec in CODECS}
    by_region: dict[str, int] = {}
    for sub in subs:
        by_transport[sub.codec.name] += 1
        for region in sub.filter.regions or ("*",):
            by_region[region] = by_region.get(region, 0) + 1
    return by_transport, by_region


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "hold", "release"]),
            st.integers(0, 5),
        ),
        max_size=40,
    ),
    subscribed=st.lists(st.tuples(filters, st.sampled_from(CODECS)), min_size=6, max_size=6),
)
def test_the_census_kept_as_subscribers_come_and_go_equals_a_count_by_hand(
    steps: list[tuple[str, int]], subscribed: list[tuple[Filter, Codec]]
) -> None:
    hub = Hub(Metrics(), CODECS, buffer_bytes=1 << 20, replay_cache=0)
    subs = [_Subscriber(flt, codec) for flt, codec in subscribed]
    for action, index in steps:
        sub = subs[index]
        # The gateway's own sequences: hold then release then add, or add; remove any time.
        if action == "add" and not hub.replaying(sub):
            hub.add(sub)
        elif action == "remove":
            hub.remove(sub)
        elif action == "hold" and not hub.replaying(sub) and sub not in hub._live:
            hub.hold(sub)
        elif action == "release":
            hub.release(sub)
    members = [s for s in subs if s in hub._live or hub.replaying(s)]
    census = hub.census()
    assert census.total == len(members)
    assert (census.by_transport, census.by_region) == _census_by_hand(members)
