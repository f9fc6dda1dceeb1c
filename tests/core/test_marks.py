"""Unique-visitor marks: one definition, used by the live count and the recount."""

from __future__ import annotations

import pytest

from analyticsd.core.buckets import DAY, HOUR
from analyticsd.core.dimensions import PAGE, SITE
from analyticsd.core.marks import mark, visitor_hex, visitor_int, visitor_marks


def test_a_mark_names_one_row_and_one_visitor() -> None:
    base = (HOUR, 100, PAGE, "/a", "00000000000000a1")
    others = [
        (DAY, 100, PAGE, "/a", "00000000000000a1"),  # another granularity
        (HOUR, 101, PAGE, "/a", "00000000000000a1"),  # another bucket
        (HOUR, 100, SITE, "/a", "00000000000000a1"),  # another dimension
        (HOUR, 100, PAGE, "/b", "00000000000000a1"),  # another value
        (HOUR, 100, PAGE, "/a", "00000000000000b2"),  # another visitor
    ]
    assert mark(*base) == mark(*base)
    assert len({mark(*base), *(mark(*o) for o in others)}) == 1 + len(others)


def test_visitor_marks_are_the_hour_and_day_marks_of_each_pair() -> None:
    pairs = [(SITE, ""), (PAGE, "/a")]
    got = list(visitor_marks(240, 10, "v", pairs))
    assert got == [
        (mark(HOUR, 240, SITE, "", "v"), HOUR, 240, SITE, ""),
        (mark(DAY, 10, SITE, "", "v"), DAY, 10, SITE, ""),
        (mark(HOUR, 240, PAGE, "/a", "v"), HOUR, 240, PAGE, "/a"),
        (mark(DAY, 10, PAGE, "/a", "v"), DAY, 10, PAGE, "/a"),
    ]


@pytest.mark.parametrize(
    ("hex_id", "number"),
    [
        ("0000000000000000", 0),
        ("00000000000000a1", 0xA1),
        ("7fffffffffffffff", (1 << 63) - 1),
        ("8000000000000000", -(1 << 63)),  # the upper half is negative in SQLite
        ("ffffffffffffffff", -1),
    ],
)
def test_visitor_ids_round_trip_through_signed_integers(hex_id: str, number: int) -> None:
    assert visitor_int(hex_id) == number
    assert visitor_hex(number) == hex_id


def test_a_visitor_id_that_is_not_hex_is_zero() -> None:
    assert visitor_int("not-hex") == 0
