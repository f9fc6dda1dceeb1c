from __future__ import annotations

from datetime import datetime

import pytest

from analyticsd.core.aggregate import buckets, day_label, day_number


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


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
