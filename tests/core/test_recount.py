"""Recounting a stored day (core.recount): equal to counting it live, with the goals of now."""

from __future__ import annotations

import msgspec
import pytest

from analyticsd.core.aggregate import DAY, HOUR, Aggregation, FlushBatch
from analyticsd.core.buckets import day_number
from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import rules_for
from analyticsd.core.errors import RecomputeRefused
from analyticsd.core.marks import visitor_int
from analyticsd.core.recount import StoredEvent, StoredVisit, day_refusal, recount_day
from analyticsd.core.spool_record import EnrichedRecord
from tests.core.records_fixture import ms, rec

MIN = 60_000
DAY_NO = day_number("2026-11-23")


def live(records: list[EnrichedRecord], seqs: list[int]) -> FlushBatch:
    agg = Aggregation(tz_of={"s": "UTC"})
    for site, gran, bucket in agg.marks_needed(records):
        agg.load_marks(site, gran, bucket, set())
    for seq, r in zip(seqs, records, strict=True):
        agg.add(seq, r)
    return agg.take()


def stored(batch: FlushBatch) -> tuple[list[StoredEvent], dict[int, StoredVisit]]:
    events = [
        StoredEvent(
            i,
            e.ts,
            e.session,
            e.visitor,
            e.name,
            e.path,
            e.props,
            e.revenue_micros,
            e.currency,
            e.user_id,
            e.event_id,
        )
        for i, e in enumerate(batch.events)
    ]
    visits = {s.sid: StoredVisit(s.sid, visitor_int(s.visitor), s.dims) for s, _ in batch.sessions}
    return events, visits


def day_rows(batch: FlushBatch, day: int) -> dict[tuple[int, int, int, str], list[int]]:
    return {
        (g, b, dim, val): list(v)
        for (_, g, b, dim, val), v in batch.rows.items()
        if any(v) and ((g == DAY and b == day) or (g == HOUR and b // 24 == day))
    }


def traffic(goals: tuple[str, ...] = ()) -> list[EnrichedRecord]:
    t = ms("2026-11-23T10:00:00+00:00")
    return [
        rec(t, "00000000000000a1", "/"),
        rec(t + MIN, "00000000000000a1", "/pricing", goals=goals),
        rec(t + 2 * MIN, "00000000000000a2", "/pricing", goals=goals),
        rec(t + 3 * MIN, "00000000000000a3", "/docs", revenue=("12.50", "EUR")),
        # Late evening, then past midnight under the next day's id: one visit.
        rec(ms("2026-11-23T23:50:00+00:00"), "00000000000000b1", "/"),
        rec(
            ms("2026-11-24T00:05:00+00:00"),
            "00000000000000b2",
            "/docs",
            prev_visitor="00000000000000b1",
        ),
    ]


def test_a_recount_equals_the_live_count_of_the_day() -> None:
    records = traffic()
    batch = live(records, list(range(1, len(records) + 1)))
    events, visits = stored(batch)
    again = recount_day("s", DAY_NO, "UTC", events, visits, None, True)
    assert day_rows(again.batch, DAY_NO) == day_rows(batch, DAY_NO)
    assert again.batch.revenue == {
        k: v for k, v in batch.revenue.items() if k[2] // 24 == DAY_NO or k[2] == DAY_NO
    }
    assert again.events == 5  # the event after midnight belongs to the next day


def test_with_a_new_goal_it_equals_counting_live_with_that_goal() -> None:
    before = live(traffic(), list(range(1, 7)))
    events, visits = stored(before)
    site = SiteConfig(id="s", goals=(GoalConfig(page="/pricing"),))
    rules = rules_for([site])["s"]
    again = recount_day("s", DAY_NO, "UTC", events, visits, rules, True)
    expected = live(traffic(goals=("Visit /pricing",)), list(range(1, 7)))
    assert day_rows(again.batch, DAY_NO) == day_rows(expected, DAY_NO)
    assert sorted(again.conversions) == sorted(
        (s.conversions, s.sid) for s, c in expected.sessions if c.day == DAY_NO
    )
    assert ('["Visit /pricing"]', 1) in again.goals


def test_without_hours_only_the_day_row_is_rebuilt() -> None:
    batch = live(traffic(), list(range(1, 7)))
    events, visits = stored(batch)
    again = recount_day("s", DAY_NO, "UTC", events, visits, None, False)
    assert {k[1] for k in again.batch.buckets} == {DAY}


def test_a_visit_that_would_open_twice_is_refused() -> None:
    t = ms("2026-11-23T10:00:00+00:00")
    # Stored as one visit, but 2 hours apart: the recount opens it twice.
    records = [rec(t, "00000000000000a1"), rec(t + 120 * MIN, "00000000000000a1", "/x")]
    batch = live(records, [1, 2])
    events, visits = stored(batch)
    events = [msgspec.structs.replace(e, session=1) for e in events]
    with pytest.raises(RecomputeRefused, match="does not regroup"):
        recount_day("s", DAY_NO, "UTC", events, {1: visits[1]}, None, True)


@pytest.mark.parametrize(
    ("day", "refused"),
    [
        (100, None),
        (101, "in the future"),
        (70, "older than raw_event_retention_days"),
        (71, None),
    ],
)
def test_which_days_can_be_recomputed(day: int, refused: str | None) -> None:
    why = day_refusal(day, 100, 30)
    assert (why is None) if refused is None else (why is not None and refused in why)
