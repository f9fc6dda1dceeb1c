"""The aggregation: events into local buckets, unique visitors, the flush protocol."""

from __future__ import annotations

import pytest

from analyticsd.core.aggregate import (
    DAY,
    HOUR,
    PAGE,
    SITE,
    Aggregation,
    FlushBatch,
    buckets,
    event_pairs,
    split_pairs,
    visitor_marks,
)
from analyticsd.core.batch import V_EVENTS, V_PAGEVIEWS, V_VISITORS, V_VISITS
from analyticsd.core.buckets import day_number
from analyticsd.core.sessions import SESSION_GAP_MS
from analyticsd.core.source import Source
from analyticsd.core.spool_record import EnrichedRecord
from tests.core.records_fixture import ms, rec

MIN = 60_000
SOURCE = 3  # visit:source


def aggregation(records: list[EnrichedRecord], tz: str = "UTC") -> Aggregation:
    agg = Aggregation(tz_of={"s": tz})
    for site, gran, bucket in agg.marks_needed(records):
        agg.load_marks(site, gran, bucket, set())
    for seq, r in enumerate(records, 1):
        agg.add(seq, r)
    return agg


def site_rows(batch: FlushBatch, gran: int) -> dict[int, list[int]]:
    """bucket → the SITE row of that bucket."""
    return {b: v for (_, g, b, dim, _), v in batch.rows.items() if g == gran and dim == SITE}


# (UTC instants of two visitors' events, timezone,
#  [(local day, local hour, page views)], [(local day, page views)])
LOCAL_BUCKET_CASES = [
    # Berlin's repeated autumn hour (02:xx local comes twice): one bucket.
    (
        ["2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00"],
        "Europe/Berlin",
        [("2026-10-25", 2, 2)],
        [("2026-10-25", 2)],
    ),
    # New York's skipped spring hour: 01:59 local, then 03:00.
    (
        ["2026-03-08T06:59:00+00:00", "2026-03-08T07:00:00+00:00"],
        "America/New_York",
        [("2026-03-08", 1, 1), ("2026-03-08", 3, 1)],
        [("2026-03-08", 2)],
    ),
    # Midnight in Kolkata is 18:30 UTC: one UTC hour, two local days.
    (
        ["2026-11-23T18:29:00+00:00", "2026-11-23T18:31:00+00:00"],
        "Asia/Kolkata",
        [("2026-11-23", 23, 1), ("2026-11-24", 0, 1)],
        [("2026-11-23", 1), ("2026-11-24", 1)],
    ),
]


@pytest.mark.parametrize(("instants", "tz", "hours", "days"), LOCAL_BUCKET_CASES)
def test_events_count_in_their_sites_local_hour_and_day(
    instants: list[str], tz: str, hours: list[tuple[str, int, int]], days: list[tuple[str, int]]
) -> None:
    visitors = ["00000000000000a1", "00000000000000b2"]
    agg = aggregation([rec(ms(t), v) for t, v in zip(instants, visitors, strict=True)], tz)
    batch = agg.take()
    assert {b: v[V_PAGEVIEWS] for b, v in site_rows(batch, HOUR).items()} == {
        day_number(d) * 24 + h: n for d, h, n in hours
    }
    assert {b: v[V_PAGEVIEWS] for b, v in site_rows(batch, DAY).items()} == {
        day_number(d): n for d, n in days
    }


def test_a_visit_across_local_midnight_counts_where_it_started() -> None:
    start = ms("2026-11-23T23:50:00+01:00")  # Berlin
    agg = aggregation([rec(start, path="/a"), rec(start + 20 * MIN, path="/b")], "Europe/Berlin")
    days = site_rows(agg.take(), DAY)
    first, second = (
        buckets(start, "Europe/Berlin")[1],
        buckets(start + 20 * MIN, "Europe/Berlin")[1],
    )
    assert second == first + 1
    assert (days[first][V_VISITS], days[first][V_PAGEVIEWS]) == (1, 1)
    assert (days[second][V_VISITS], days[second][V_PAGEVIEWS]) == (0, 1)
    assert days[first][V_VISITORS] == days[second][V_VISITORS] == 1  # one in each day


def test_live_marks_equal_the_recount_from_the_events() -> None:
    """What storage recounts after a restart (visitor_marks over each event's
    pairs and its visit's per-visit pairs) must be exactly what was marked."""
    t0 = ms("2026-11-23T10:00:00+00:00")
    google = Source("search", "Google", "google.com")
    records = [
        rec(t0, "00000000000000a1", "/a", source=google),
        rec(t0 + MIN, "00000000000000a1", "/b", kind="Signup", goals=("Signup",)),
        rec(t0 + 2 * MIN, "00000000000000b2", "/a", props={"plan": "pro"}),
        rec(t0 + 61 * MIN, "00000000000000a1", "/c"),  # a new visit, the next hour
    ]
    agg = aggregation(records)
    expected: dict[tuple[str, int, int], set[int]] = {}
    for r in records:
        s = next(
            s
            for s in agg.book.sessions()
            if s.visitor == r.visitor and s.start_ms <= r.event.timestamp_ms <= s.end_ms
        )
        pairs = event_pairs(
            r.event.event_type == "pageview", r.event.path, r.goals, r.event.props.items()
        )
        pairs += split_pairs(s.dims)[1]
        hour, day = buckets(r.event.timestamp_ms, "UTC")
        for m, gran, bucket, *_ in visitor_marks(hour, day, r.visitor, pairs):
            expected.setdefault(("s", gran, bucket), set()).add(m)
    assert agg.seen == expected


def test_visitors_count_once_per_row_and_bucket() -> None:
    t0 = ms("2026-11-23T10:00:00+00:00")
    google = Source("search", "Google", "google.com")
    agg = aggregation(
        [
            rec(t0, "00000000000000a1", "/x", source=google),
            rec(t0 + MIN, "00000000000000a1", "/x"),
            rec(t0 + 40 * MIN, "00000000000000a1", "/x"),  # a second visit, direct
            rec(t0 + 41 * MIN, "00000000000000b2", "/x", source=google),
        ]
    )
    rows = agg.take().rows
    day = buckets(t0, "UTC")[1]
    assert rows[("s", DAY, day, SITE, "")][V_VISITORS] == 2
    assert rows[("s", DAY, day, SITE, "")][V_VISITS] == 3
    assert rows[("s", DAY, day, PAGE, "/x")][V_VISITORS] == 2
    assert rows[("s", DAY, day, PAGE, "/x")][V_EVENTS] == 4
    assert rows[("s", DAY, day, SOURCE, "Google")][V_VISITORS] == 2
    assert rows[("s", DAY, day, SOURCE, "Direct / None")][V_VISITORS] == 1
    assert rows[("s", DAY, day, 15, "Desktop")][V_VISITORS] == 2  # visit:device


def test_a_failed_flush_is_put_back_and_written_with_the_next() -> None:
    t0 = ms("2026-11-23T10:00:00+00:00")
    records = [rec(t0 + i * MIN, f"{i % 3:016x}", f"/{i}") for i in range(6)]
    whole = aggregation(records).take()
    agg = aggregation(records[:3])
    agg.failed(agg.take())
    for site, gran, bucket in agg.marks_needed(records[3:]):
        agg.load_marks(site, gran, bucket, set())
    for seq, r in enumerate(records[3:], 4):
        agg.add(seq, r)
    batch = agg.take()
    assert batch.rows == whole.rows
    assert [e.event_id for e in batch.events] == [e.event_id for e in whole.events]
    assert (batch.n_events, batch.last_seq) == (6, 6)
    assert sorted(s.sid for s, _ in batch.sessions) == sorted(s.sid for s, _ in whole.sessions)


def test_take_hands_over_everything_and_starts_afresh() -> None:
    agg = aggregation([rec(ms("2026-11-23T10:00:00+00:00"))])
    batch = agg.take()
    assert (batch.n_events, batch.last_seq, len(batch.sessions), len(batch.events)) == (1, 1, 1, 1)
    assert agg.n_events == 0
    empty = agg.take()
    assert (empty.rows, empty.events, empty.sessions, empty.last_seq) == ({}, [], [], 1)


def test_committed_cleans_visits_and_forgets_stale_state() -> None:
    t0 = ms("2026-11-23T10:00:00+00:00")
    agg = aggregation([rec(t0, "00000000000000a1")])
    (old,) = agg.book.sessions()
    agg.committed(agg.take())
    assert not old.dirty
    assert old.sid in agg.visits  # still open: its cache stays
    later = t0 + SESSION_GAP_MS + 2 * 3600_000
    for site, gran, bucket in agg.marks_needed([rec(later, "00000000000000b2")]):
        agg.load_marks(site, gran, bucket, set())
    agg.add(2, rec(later, "00000000000000b2"))
    agg.committed(agg.take())
    assert [s.visitor for s in agg.book.sessions()] == ["00000000000000b2"]
    assert old.sid not in agg.visits  # forgotten with its visit
    hour, day = buckets(t0, "UTC")
    assert ("s", HOUR, hour) not in agg.seen  # nobody touched that hour for long
    assert ("s", HOUR, buckets(later, "UTC")[0]) in agg.seen
    assert ("s", DAY, day) in agg.seen  # the same day, touched by the later event


def test_bot_events_count_only_in_their_own_rows() -> None:
    agg = aggregation([rec(ms("2026-11-23T10:00:00+00:00"), bot=True)])
    batch = agg.take()
    assert [k[3] for k in batch.rows] == [40, 40]  # BOTS, hour and day
    assert (batch.sessions, batch.events, batch.n_events) == ([], [], 1)
