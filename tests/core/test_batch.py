"""The flush batch: rows, the WEEK and MONTH rows derived from DAY rows, putting back."""

from __future__ import annotations

from analyticsd.core.batch import EventRow, FlushBatch, add_into, micros
from analyticsd.core.buckets import DAY, HOUR, MONTH, WEEK, day_number, month_of, week_of
from analyticsd.core.dimensions import PAGE, SITE_PAIR

SUN, MON = day_number("2026-11-29"), day_number("2026-11-30")  # a week ends, one starts
DEC1 = day_number("2026-12-01")  # and a month


def batch(*rows: tuple[int, int, tuple[int, str], list[int]]) -> FlushBatch:
    b = FlushBatch()
    for gran, bucket, p, vector in rows:
        add_into(b.buckets[("s", gran, bucket)][p], vector)
    return b


def test_day_rows_add_up_to_their_week_and_month_rows() -> None:
    b = batch(
        (DAY, SUN, SITE_PAIR, [1, 1, 2, 2, 0, 0, 0, 0]),
        (DAY, SUN - 1, SITE_PAIR, [3, 1, 1, 1, 1, 0, 0, 0]),
        (DAY, MON, SITE_PAIR, [5, 1, 1, 1, 0, 0, 0, 0]),
        (DAY, DEC1, SITE_PAIR, [7, 1, 0, 1, 0, 0, 0, 0]),
        (HOUR, SUN * 24, SITE_PAIR, [1, 1, 2, 2, 0, 0, 0, 0]),  # hours roll up into nothing
    )
    rows = {tuple(r[:5]): list(r[5:]) for r in b.flat_rows()}
    assert rows[("s", WEEK, week_of(SUN), *SITE_PAIR)] == [4, 2, 3, 3, 1, 0, 0, 0]
    assert rows[("s", WEEK, week_of(MON), *SITE_PAIR)] == [12, 2, 1, 2, 0, 0, 0, 0]
    assert week_of(DEC1) == week_of(MON) != week_of(SUN)
    assert rows[("s", MONTH, month_of(SUN), *SITE_PAIR)] == [9, 3, 4, 4, 1, 0, 0, 0]
    assert rows[("s", MONTH, month_of(DEC1), *SITE_PAIR)] == [7, 1, 0, 1, 0, 0, 0, 0]
    assert len(rows) == 5 + 2 + 2


def test_rows_that_add_up_to_zero_are_not_written() -> None:
    b = batch((DAY, SUN, (PAGE, "/gone"), [0, 1, 0, 0, 0, 0, 0, 0]))
    add_into(b.buckets[("s", DAY, SUN)][(PAGE, "/gone")], [0, -1, 0, 0, 0, 0, 0, 0])
    assert list(b.flat_rows()) == []
    assert b.rows == {}


def test_revenue_rows_add_up_to_week_and_month_rows() -> None:
    b = FlushBatch()
    b.add_revenue(("s", DAY, SUN, 0, "", "EUR"), 1_500_000)
    b.add_revenue(("s", DAY, SUN - 1, 0, "", "EUR"), 2_000_000)
    b.add_revenue(("s", HOUR, SUN * 24, 0, "", "EUR"), 1_500_000)
    rows = {tuple(r[:6]): tuple(r[6:]) for r in b.revenue_rows()}
    assert rows[("s", WEEK, week_of(SUN), 0, "", "EUR")] == (3_500_000, 2)
    assert rows[("s", MONTH, month_of(SUN), 0, "", "EUR")] == (3_500_000, 2)
    assert rows[("s", HOUR, SUN * 24, 0, "", "EUR")] == (1_500_000, 1)
    assert len(rows) == 5


def event(n: int) -> EventRow:
    return EventRow("s", n, 1, 1, "pageview", "/", None, None, None, None, None, f"e{n}")


def test_a_batch_put_back_adds_its_counts_before_the_newer_ones() -> None:
    old = batch((DAY, SUN, SITE_PAIR, [1, 1, 1, 1, 0, 0, 0, 0]))
    old.add_revenue(("s", DAY, SUN, 0, "", "EUR"), 10)
    old.events.append(event(1))
    old.n_events = 1
    new = batch(
        (DAY, SUN, SITE_PAIR, [0, 0, 1, 1, 0, 0, 0, 0]),
        (DAY, MON, SITE_PAIR, [1, 1, 1, 1, 0, 0, 0, 0]),
    )
    new.add_revenue(("s", DAY, SUN, 0, "", "EUR"), 5)
    new.events.append(event(2))
    new.n_events = 1
    new.put_back(old)
    assert new.rows == {
        ("s", DAY, SUN, *SITE_PAIR): [1, 1, 2, 2, 0, 0, 0, 0],
        ("s", DAY, MON, *SITE_PAIR): [1, 1, 1, 1, 0, 0, 0, 0],
    }
    assert new.revenue == {("s", DAY, SUN, 0, "", "EUR"): [15, 2]}
    assert [e.event_id for e in new.events] == ["e1", "e2"]
    assert new.n_events == 2


def test_amounts_in_millionths() -> None:
    assert micros("12.5") == 12_500_000
    assert micros("0.0000015") == 2  # rounded to the nearest millionth (half to even)
    assert micros("lots") is None
