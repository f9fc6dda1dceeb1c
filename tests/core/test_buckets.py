"""Time buckets in a site's timezone, across DST changes and odd offsets."""

from __future__ import annotations

import pytest

from analyticsd.core.buckets import (
    buckets,
    day_label,
    day_number,
    month_first_day,
    month_of,
    week_first_day,
    week_of,
)
from tests.core.records_fixture import ms


@pytest.mark.parametrize(
    ("instant", "tz", "day", "hour"),
    [
        ("2026-11-23T23:30:00+00:00", "UTC", "2026-11-23", 23),
        ("2026-11-23T23:30:00+00:00", "Europe/Berlin", "2026-11-24", 0),
        ("2026-11-23T03:00:00+00:00", "America/New_York", "2026-11-22", 22),
        ("2026-11-23T18:29:00+00:00", "Asia/Kolkata", "2026-11-23", 23),
        ("2026-11-23T18:30:00+00:00", "Asia/Kolkata", "2026-11-24", 0),
        ("2026-03-29T00:59:59+00:00", "Europe/Berlin", "2026-03-29", 1),
        ("2026-03-29T01:00:00+00:00", "Europe/Berlin", "2026-03-29", 3),
        ("2026-11-23T10:14:00+00:00", "Asia/Kathmandu", "2026-11-23", 15),
        ("2026-11-23T10:15:00+00:00", "Asia/Kathmandu", "2026-11-23", 16),
        # Autumn in Berlin: 02:00-03:00 local comes twice, one bucket.
        ("2026-10-25T00:30:00+00:00", "Europe/Berlin", "2026-10-25", 2),
        ("2026-10-25T01:30:00+00:00", "Europe/Berlin", "2026-10-25", 2),
        ("2026-10-25T02:00:00+00:00", "Europe/Berlin", "2026-10-25", 3),
        # New York springs forward at 02:00 local (07:00 UTC).
        ("2026-03-08T06:59:59+00:00", "America/New_York", "2026-03-08", 1),
        ("2026-03-08T07:00:00+00:00", "America/New_York", "2026-03-08", 3),
        # Lord Howe Island moves by half an hour (02:00 → 02:30 local).
        ("2026-10-03T15:29:59+00:00", "Australia/Lord_Howe", "2026-10-04", 1),
        ("2026-10-03T15:30:00+00:00", "Australia/Lord_Howe", "2026-10-04", 2),
        # Chatham Islands: UTC+13:45 in summer, the day starts at 10:15 UTC.
        ("2026-11-23T10:14:59+00:00", "Pacific/Chatham", "2026-11-23", 23),
        ("2026-11-23T10:15:00+00:00", "Pacific/Chatham", "2026-11-24", 0),
    ],
)
def test_local_buckets(instant: str, tz: str, day: str, hour: int) -> None:
    hour_no, day_no = buckets(ms(instant), tz)
    assert day_label(day_no) == day
    assert day_number(day) == day_no
    assert hour_no == day_no * 24 + hour


def test_day_numbers_count_from_the_epoch() -> None:
    assert day_number("1970-01-01") == 0
    assert day_label(20_415) == "2025-11-23"


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        ("2026-11-23", "2026-11-23"),  # a Monday is its own week's first day
        ("2026-11-29", "2026-11-23"),  # Sunday ends the week
        ("2026-11-30", "2026-11-30"),
        ("1970-01-01", "1969-12-29"),  # day 0 was a Thursday
        ("2027-01-01", "2026-12-28"),  # weeks run across the new year
    ],
)
def test_weeks_start_on_monday(day: str, monday: str) -> None:
    week = week_of(day_number(day))
    assert day_label(week_first_day(week)) == monday
    assert week_of(day_number(monday)) == week


@pytest.mark.parametrize(
    ("day", "first"),
    [
        ("2026-11-23", "2026-11-01"),
        ("2026-12-31", "2026-12-01"),
        ("2027-01-01", "2027-01-01"),
        ("2028-02-29", "2028-02-01"),
    ],
)
def test_months(day: str, first: str) -> None:
    month = month_of(day_number(day))
    assert day_label(month_first_day(month)) == first
    year, mon = int(first[:4]), int(first[5:7])
    assert month == year * 12 + mon - 1
