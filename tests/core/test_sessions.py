"""Session rules (SPEC §6) and the aggregation built on them, pure."""

from __future__ import annotations

import pytest

from analyticsd.core.aggregate import (
    BOTS,
    DAY,
    ENTRY_PAGE,
    EXIT_PAGE,
    HOUR,
    PAGE,
    SITE,
    Aggregation,
    buckets,
    day_number,
)
from analyticsd.core.batch import (
    V_BOUNCES,
    V_CONVERSIONS,
    V_DURATION,
    V_ENGAGED,
    V_EVENTS,
    V_PAGEVIEWS,
    V_VISITORS,
    V_VISITS,
)
from analyticsd.core.sessions import SESSION_GAP_MS, Session, SessionBook
from analyticsd.core.spool_record import EnrichedRecord
from tests.core.records_fixture import ms, rec

T0 = ms("2026-11-23T10:00:00+00:00")
DAYNO = day_number("2026-11-23")
MIN = 60_000


def session(pageviews: int, duration_ms: int, conversions: int = 0) -> Session:
    s = Session(1, "s", "v", 0, 0, ())
    for i in range(pageviews):
        s.add(duration_ms if i == pageviews - 1 else 0, True, f"/{i}", False)
    if pageviews == 0:
        s.add(duration_ms, False, "", False)
    for _ in range(conversions):
        s.add(0, False, "", True)
    return s


@pytest.mark.parametrize(
    ("pageviews", "duration_ms", "conversions", "bounce", "engaged"),
    [
        (1, 0, 0, True, False),  # one page view, nothing else: a bounce
        (1, 9_999, 0, True, False),  # long enough? no: 10 s is the threshold
        (1, 10_000, 0, True, True),  # engaged by duration, still a bounce (one page view)
        (2, 0, 0, False, True),  # two page views: engaged, not a bounce
        (1, 0, 1, False, True),  # a conversion: engaged, never a bounce
        (3, 60_000, 0, False, True),
        (0, 0, 0, False, False),  # events without a page view: not a bounce
    ],
)
def test_bounce_and_engaged_rules(
    pageviews: int, duration_ms: int, conversions: int, bounce: bool, engaged: bool
) -> None:
    s = session(pageviews, duration_ms, conversions)
    assert s.bounce is bounce
    assert s.engaged is engaged


@pytest.mark.parametrize(
    ("gap_ms", "same"),
    [
        (SESSION_GAP_MS - 1, True),
        (SESSION_GAP_MS, True),  # exactly 30 minutes: still the same visit
        (SESSION_GAP_MS + 1, False),
        (2 * SESSION_GAP_MS, False),
    ],
)
def test_timeout_edge(gap_ms: int, same: bool) -> None:
    book = SessionBook()
    first = book.session_for(1, "s", "v", "", T0, ())
    first.add(T0, True, "/", False)
    second = book.session_for(2, "s", "v", "", T0 + gap_ms, ())
    assert (second is first) is same


def test_visit_survives_the_midnight_salt_change() -> None:
    midnight = ms("2026-11-24T00:00:00+00:00")
    book = SessionBook()
    before = book.session_for(1, "s", "old-id", "", midnight - 10 * MIN, ())
    before.add(midnight - 10 * MIN, True, "/a", False)
    # After midnight the same person hashes to "new-id"; the receiver also
    # sends the id under yesterday's salt, which finds the open visit.
    after = book.session_for(2, "s", "new-id", "old-id", midnight + 5 * MIN, ())
    assert after is before
    after.add(midnight + 5 * MIN, True, "/b", False)
    assert after.alias == "new-id"
    # Later events carry only the new id and still land in the same visit.
    assert book.session_for(3, "s", "new-id", "", midnight + 20 * MIN, ()) is before
    assert (before.entry, before.exit, before.pageviews) == ("/a", "/b", 2)


def test_midnight_continuation_needs_a_recent_visit() -> None:
    midnight = ms("2026-11-24T00:00:00+00:00")
    book = SessionBook()
    old = book.session_for(1, "s", "old-id", "", midnight - 40 * MIN, ())
    old.add(midnight - 40 * MIN, True, "/a", False)
    new = book.session_for(2, "s", "new-id", "old-id", midnight + 5 * MIN, ())
    assert new is not old


def test_out_of_order_events_fix_entry_and_exit() -> None:
    book = SessionBook()
    s = book.session_for(1, "s", "v", "", T0, ())
    s.add(T0, True, "/second", False)
    assert book.session_for(2, "s", "v", "", T0 - 5 * MIN, ()) is s
    s.add(T0 - 5 * MIN, True, "/first", False)
    assert (s.entry, s.exit, s.duration_ms) == ("/first", "/second", 5 * MIN)


def test_late_events_make_a_visit_of_their_own() -> None:
    book = SessionBook()
    s = book.session_for(1, "s", "v", "", T0, ())
    s.add(T0, True, "/now", False)
    late = book.session_for(2, "s", "v", "", T0 - 3 * 3600_000, ())
    assert late is not s
    late.add(T0 - 3 * 3600_000, True, "/then", False)
    # Another event of that late visit joins it; the open visit stays current.
    assert book.session_for(3, "s", "v", "", T0 - 3 * 3600_000 + MIN, ()) is late
    assert book.session_for(4, "s", "v", "", T0 + MIN, ()) is s


def run(records: list[EnrichedRecord]) -> dict[tuple[int, int, int, str], list[int]]:
    """Aggregate, flushing after every record, and sum what was flushed."""
    agg = Aggregation(tz_of={"s": "UTC"})
    total: dict[tuple[int, int, int, str], list[int]] = {}
    for seq, r in enumerate(records, 1):
        for site, gran, bucket in agg.marks_needed([r]):
            agg.load_marks(site, gran, bucket, set())
        agg.add(seq, r)
        batch = agg.take()
        agg.committed(batch)
        for (_, gran, bucket, dim, val), vec in batch.rows.items():
            row = total.setdefault((gran, bucket, dim, val), [0] * 8)
            for i, v in enumerate(vec):
                row[i] += v
    return total


def test_a_growing_visit_is_reflushed_as_differences() -> None:
    rows = run(
        [
            rec(T0, path="/a"),
            rec(T0 + 1 * MIN, path="/b"),
            rec(T0 + 2 * MIN, path="/c", kind="Signup", goals=("Signup",)),
        ]
    )
    site = rows[(DAY, DAYNO, SITE, "")]
    assert site[V_VISITORS] == 1
    assert site[V_VISITS] == 1
    assert site[V_PAGEVIEWS] == 2
    assert site[V_EVENTS] == 3
    assert site[V_BOUNCES] == 0  # was a bounce after the first flush, no longer
    assert site[V_DURATION] == 2 * MIN
    assert site[V_ENGAGED] == 1
    assert site[V_CONVERSIONS] == 1
    assert rows[(DAY, DAYNO, ENTRY_PAGE, "/a")][V_VISITS] == 1
    # The exit page moved from /a to /b: /a's exit row is back to zero.
    assert rows[(DAY, DAYNO, EXIT_PAGE, "/a")][V_VISITS] == 0
    assert rows[(DAY, DAYNO, EXIT_PAGE, "/b")][V_VISITS] == 1
    assert rows[(DAY, DAYNO, PAGE, "/b")][V_PAGEVIEWS] == 1
    hour, _ = buckets(T0, "UTC")
    assert rows[(HOUR, hour, SITE, "")][V_VISITS] == 1


def test_bots_only_count_in_their_own_rows() -> None:
    rows = run([rec(T0, bot=True), rec(T0 + MIN, bot=True, kind="click")])
    assert rows[(DAY, DAYNO, BOTS, "")][V_PAGEVIEWS] == 1
    assert rows[(DAY, DAYNO, BOTS, "")][V_EVENTS] == 2
    assert (DAY, DAYNO, SITE, "") not in rows


def test_visitors_count_once_per_day_and_dimension() -> None:
    rows = run(
        [
            rec(T0, visitor="00000000000000a1", path="/x"),
            rec(T0 + 40 * MIN, visitor="00000000000000a1", path="/x"),  # second visit
            rec(T0 + MIN, visitor="00000000000000b2", path="/x"),
        ]
    )
    assert rows[(DAY, DAYNO, SITE, "")][V_VISITORS] == 2
    assert rows[(DAY, DAYNO, SITE, "")][V_VISITS] == 3
    assert rows[(DAY, DAYNO, PAGE, "/x")][V_VISITORS] == 2
    assert rows[(DAY, DAYNO, 15, "Desktop")][V_VISITORS] == 2  # visit:device
    assert rows[(DAY, DAYNO, 15, "Desktop")][V_VISITS] == 3


def test_a_visit_replaced_before_its_flush_is_still_flushed() -> None:
    agg = Aggregation(tz_of={"s": "UTC"})
    for site, gran, bucket in agg.marks_needed([rec(T0), rec(T0 + 2 * SESSION_GAP_MS)]):
        agg.load_marks(site, gran, bucket, set())
    agg.add(1, rec(T0, path="/first-visit"))
    agg.add(2, rec(T0 + 2 * SESSION_GAP_MS, path="/second-visit"))  # no flush between
    batch = agg.take()
    assert len(batch.sessions) == 2
    assert batch.rows[("s", DAY, DAYNO, SITE, "")][V_VISITS] == 2


def test_evict_returns_the_clean_visits_it_forgets() -> None:
    book = SessionBook()
    idle = book.session_for(1, "s", "idle", "", T0, ())
    busy = book.session_for(2, "s", "busy", "", T0, ())
    unsaved = book.session_for(3, "s", "unsaved", "", T0, ())
    idle.touched_ms, busy.touched_ms, unsaved.touched_ms = T0, T0 + 2 * SESSION_GAP_MS, T0
    idle.dirty = busy.dirty = False  # saved; `unsaved` still waits for a flush
    assert book.evict(T0 + SESSION_GAP_MS) == [idle]
    assert {s.visitor for s in book.sessions()} == {"busy", "unsaved"}


def test_evict_keeps_to_the_memory_bound() -> None:
    book = SessionBook(max_open=2)
    visits = [book.session_for(i, "s", f"v{i}", "", T0 + i * MIN, ()) for i in range(4)]
    for s in visits:
        s.add(s.start_ms, True, "/", False)
        s.touched_ms, s.dirty = T0 + 10 * SESSION_GAP_MS, False
    assert book.evict(T0) == visits[:2]  # the least recently active go first
    assert len(book) == 2
