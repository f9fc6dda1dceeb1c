"""Visit contributions: what a visit adds to the rows, and settling it again."""

from __future__ import annotations

import pytest

from analyticsd.core.batch import (
    V_BOUNCES,
    V_DURATION,
    V_ENGAGED,
    V_EVENTS,
    V_PAGEVIEWS,
    V_VISITORS,
    V_VISITS,
    new_buckets,
)
from analyticsd.core.buckets import DAY, HOUR, buckets
from analyticsd.core.contributions import contribution, contribution_at, settle_visit
from analyticsd.core.dimensions import ENTRY_PAGE, EXIT_PAGE, SITE_PAIR, session_dims, split_pairs
from analyticsd.core.sessions import Session
from tests.core.records_fixture import ms, rec

T0 = ms("2026-11-23T10:00:00+00:00")
DIMS = session_dims(rec(T0))

# (offset ms, page view?, path, conversion?)
Event = tuple[int, bool, str, bool]


def visit(*events: Event, first_visits: int = 0) -> Session:
    s = Session(1, "s", "v", T0, T0, DIMS, first_visits=first_visits)
    for offset, pageview, path, conversion in events:
        s.add(T0 + offset, pageview, path, conversion)
    return s


@pytest.mark.parametrize(
    ("events", "vector", "entry", "exit"),
    [
        # visitors, visits, pageviews, events, bounces, duration, engaged, conversions
        ([(0, True, "/a", False)], (0, 1, 1, 1, 1, 0, 0, 0), "/a", "/a"),
        (
            [(0, True, "/a", False), (9_999, False, "", False)],
            (0, 1, 1, 2, 1, 9_999, 0, 0),
            "/a",
            "/a",
        ),
        (
            [(0, True, "/a", False), (10_000, False, "", False)],
            (0, 1, 1, 2, 1, 10_000, 1, 0),
            "/a",
            "/a",
        ),
        (
            [(0, True, "/a", False), (60_000, True, "/b", False)],
            (0, 1, 2, 2, 0, 60_000, 1, 0),
            "/a",
            "/b",
        ),
        (
            [(0, True, "/a", False), (5_000, False, "", True)],
            (0, 1, 1, 2, 0, 5_000, 1, 1),
            "/a",
            "/a",
        ),
        # out of order: the earliest page view is the entry, the latest the exit
        (
            [(60_000, True, "/b", False), (0, True, "/a", False)],
            (0, 1, 2, 2, 0, 60_000, 1, 0),
            "/a",
            "/b",
        ),
        ([(0, False, "", False)], (0, 1, 0, 1, 0, 0, 0, 0), "", ""),  # no page view: no entry row
    ],
)
def test_what_a_visit_contributes(
    events: list[Event], vector: tuple[int, ...], entry: str, exit: str
) -> None:
    c = contribution(visit(*events), "UTC")
    assert c.vector == vector
    assert c.site_vector == (0, 1, 0, 0, *vector[V_BOUNCES : V_ENGAGED + 1], 0)
    assert (c.hour, c.day) == buckets(T0, "UTC")
    constant, per_visit = split_pairs(DIMS)
    assert c.pairs[: c.n_constant] == constant
    if entry:
        assert c.pairs[c.n_constant :] == (*per_visit, (ENTRY_PAGE, entry), (EXIT_PAGE, exit))
    else:
        assert c.pairs[c.n_constant :] == per_visit


@pytest.mark.parametrize(("first_visits", "visitors"), [(0, (0, 0)), (1, (1, 0)), (3, (1, 1))])
def test_a_visit_that_opened_with_its_visitors_first_event_counts_them(
    first_visits: int, visitors: tuple[int, int]
) -> None:
    c = contribution_at(visit((0, True, "/a", False), first_visits=first_visits), 5, 6)
    assert (c.hour, c.day, c.visitors) == (5, 6, visitors)


def test_given_pairs_are_the_visits_own() -> None:
    s = visit((0, True, "/a", False))
    assert contribution_at(s, 1, 2, split_pairs(DIMS)) == contribution_at(s, 1, 2)


def rows_after(*steps: Session) -> dict[tuple[int, tuple[int, str]], list[int]]:
    """Settle a visit's successive states into one set of rows, by (granularity, pair)."""
    rows = new_buckets()
    old = None
    for s in steps:
        new = contribution(s, "UTC")
        settle_visit(rows, "s", old, new)
        old = new
    hour, day = buckets(T0, "UTC")
    return {
        (gran, p): v
        for gran, bucket in ((HOUR, hour), (DAY, day))
        for p, v in rows[("s", gran, bucket)].items()
    }


def test_a_grown_visit_is_settled_as_a_difference() -> None:
    one = visit((0, True, "/a", False), first_visits=3)
    grown = visit((0, True, "/a", False), (20_000, False, "", False), first_visits=3)
    rows = rows_after(one, grown)
    assert rows == rows_after(grown)  # same as settling the grown visit once
    site = rows[(DAY, SITE_PAIR)]
    assert (site[V_VISITS], site[V_BOUNCES], site[V_DURATION], site[V_ENGAGED]) == (1, 1, 20_000, 1)
    assert site[V_PAGEVIEWS] == site[V_EVENTS] == 0  # event-level counts are not the visit's
    assert rows[(DAY, (15, "Desktop"))][V_VISITORS] == 1  # counted once, not per settle


def test_a_visit_with_a_new_exit_page_moves_rows() -> None:
    one = visit((0, True, "/a", False))
    two = visit((0, True, "/a", False), (60_000, True, "/b", False))
    rows = rows_after(one, two)
    assert rows[(DAY, (EXIT_PAGE, "/a"))] == [0] * 8  # taken out whole
    assert rows[(DAY, (EXIT_PAGE, "/b"))][V_VISITS] == 1
    assert rows[(DAY, (ENTRY_PAGE, "/a"))][V_VISITS] == 1
    assert {k: v for k, v in rows.items() if any(v)} == {
        k: v for k, v in rows_after(two).items() if any(v)
    }


def test_settling_an_unchanged_visit_changes_nothing() -> None:
    s = visit((0, True, "/a", False))
    rows = rows_after(s, s)
    assert rows == rows_after(s)
    # The hour where the visit started holds it as its day does.
    assert rows[(HOUR, SITE_PAIR)] == rows[(DAY, SITE_PAIR)] == [0, 1, 0, 0, 1, 0, 0, 0]
