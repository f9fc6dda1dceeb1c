"""Engagement events: no events of their own, engaged time and the deepest scroll per page."""

from __future__ import annotations

import msgspec

from analyticsd.core.aggregate import DAY, HOUR, PAGE, SITE, Aggregation
from analyticsd.core.batch import V_EVENTS, V_PAGEVIEWS, V_VISITS, FlushBatch
from analyticsd.core.buckets import buckets
from analyticsd.core.spool_record import EnrichedRecord
from tests.core.records_fixture import ms, rec

T0 = ms("2026-03-02T10:00:00+00:00")


def engagement(
    ts: int, path: str, depth: int | None, engaged: int | None, **kw: object
) -> EnrichedRecord:
    r = rec(ts, path=path, kind="engagement", **kw)  # type: ignore[arg-type]
    ev = msgspec.structs.replace(r.event, scroll_depth=depth, engaged_ms=engaged)
    return msgspec.structs.replace(r, event=ev)


def counted(records: list[EnrichedRecord]) -> FlushBatch:
    agg = Aggregation(tz_of={"s": "UTC"})
    for site, gran, bucket in agg.marks_needed(records):
        agg.load_marks(site, gran, bucket, set())
    for seq, r in enumerate(records, 1):
        agg.add(seq, r)
    return agg.take()


def test_engagement_adds_time_and_the_deepest_scroll_once_per_page() -> None:
    batch = counted(
        [
            rec(T0, path="/a"),
            engagement(T0 + 5_000, "/a", 40, 5_000),
            engagement(T0 + 9_000, "/a", 70, 3_000),  # scrolled further: +30
            engagement(T0 + 12_000, "/a", 50, 1_000),  # not deeper: time only
            rec(T0 + 13_000, path="/b"),
            engagement(T0 + 20_000, "/b", 100, 7_000),
        ]
    )
    _, day = buckets(T0, "UTC")
    rows = {k[3:]: v for k, v in batch.engagement.items() if k[1:3] == (DAY, day)}
    assert rows == {
        (SITE, ""): [16_000, 0, 0, 2],  # two engaged pages of one visit
        (PAGE, "/a"): [9_000, 70, 1, 1],
        (PAGE, "/b"): [7_000, 100, 1, 1],
    }
    # Not events: the visit has two page views and two events, as without them.
    site = batch.rows[("s", DAY, day, SITE, "")]
    assert (site[V_VISITS], site[V_PAGEVIEWS], site[V_EVENTS]) == (1, 2, 2)
    assert [e.name for e in batch.events] == ["pageview", "pageview"]


def test_engagement_without_an_open_visit_or_from_a_bot_is_dropped() -> None:
    batch = counted(
        [
            engagement(T0, "/a", 50, 1_000),  # no visit yet
            rec(T0 + 1_000, path="/a", visitor="00000000000000b2", bot=True),
            engagement(T0 + 2_000, "/a", 50, 1_000, visitor="00000000000000b2", bot=True),
        ]
    )
    assert batch.engagement == {}
    assert [e.name for e in batch.events] == []


def test_engagement_rows_add_up_to_weeks_and_months_and_survive_a_failed_flush() -> None:
    batch = counted([rec(T0, path="/a"), engagement(T0 + 1_000, "/a", 30, 2_000)])
    grans = {row[1] for row in batch.engagement_rows()}
    assert {HOUR, DAY} <= grans
    assert len(grans) == 4  # + WEEK and MONTH
    again = FlushBatch()
    again.put_back(batch)
    assert again.engagement == batch.engagement


def test_a_page_engaged_without_a_scroll_depth_counts_its_visit_once() -> None:
    """Time on page divides by engaged visit-pages; scroll depth only by
    those that reported a depth. A later depth is still the page's first."""
    batch = counted(
        [
            rec(T0, path="/a"),
            engagement(T0 + 1_000, "/a", None, 4_000),
            engagement(T0 + 2_000, "/a", 0, 0),  # a depth of 0 is a depth
            engagement(T0 + 3_000, "/a", 60, 2_000),
            rec(T0 + 4_000, path="/a", visitor="00000000000000c3"),
            engagement(T0 + 5_000, "/a", None, 1_000, visitor="00000000000000c3"),
        ]
    )
    _, day = buckets(T0, "UTC")
    rows = {k[3:]: v for k, v in batch.engagement.items() if k[1:3] == (DAY, day)}
    assert rows[(PAGE, "/a")] == [7_000, 60, 1, 2]
    assert rows[(SITE, "")] == [7_000, 0, 0, 2]
