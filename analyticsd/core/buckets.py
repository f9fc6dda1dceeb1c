"""Time buckets: which local hour, day, week and month an instant falls in (pure).

Buckets are numbered in the site's timezone:

* day: days since 1970-01-01 on the local calendar;
* hour: day * 24 + local hour (a repeated hour at a DST change is one
  bucket, a skipped one has none);
* week: (day + 3) // 7, weeks starting on Monday (day 0 was a Thursday);
* month: year * 12 + month - 1.

Invariant: every UTC offset in the tz database is a multiple of 15 minutes,
so all instants of one UTC quarter-hour share their local hour and day; the
lookup is cached per quarter-hour, which is what makes it cheap enough to run
for every event. storage/localtime.py computes the same numbers in SQL
(tests/core/test_query.py pins the two equal across DST changes).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import lru_cache

HOUR, DAY, MONTH, WEEK = 0, 1, 2, 3

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_QUANTUM_MS = 15 * 60 * 1000  # every UTC offset is a multiple of 15 minutes


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """A site's timezone (cached: zoneinfo lookups are not free on the hot path)."""
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=65536)
def _buckets(tz_name: str, quantum: int) -> tuple[int, int]:
    local = datetime.fromtimestamp(quantum * _QUANTUM_MS / 1000, zone(tz_name))
    day = local.toordinal() - _EPOCH_ORDINAL
    return day * 24 + local.hour, day


def buckets(ts_ms: int, tz_name: str) -> tuple[int, int]:
    """(hour number, day number) of an instant in a timezone."""
    return _buckets(tz_name, ts_ms // _QUANTUM_MS)


def day_number(iso_date: str) -> int:
    return datetime.strptime(iso_date, "%Y-%m-%d").toordinal() - _EPOCH_ORDINAL


def day_label(day: int) -> str:
    return datetime.fromordinal(day + _EPOCH_ORDINAL).strftime("%Y-%m-%d")


@lru_cache(maxsize=4096)
def month_of(day: int) -> int:
    """The month number (year * 12 + month - 1) of a day number."""
    d = datetime.fromordinal(day + _EPOCH_ORDINAL)
    return d.year * 12 + d.month - 1


def week_of(day: int) -> int:
    """The week number (weeks from Monday) of a day number (day 0 was a Thursday)."""
    return (day + 3) // 7


def week_first_day(week: int) -> int:
    return week * 7 - 3


def month_first_day(month: int) -> int:
    """The day number of a month's first day."""
    return datetime(month // 12, month % 12 + 1, 1).toordinal() - _EPOCH_ORDINAL


def day_range_ms(day: int, tz_name: str) -> tuple[int, int]:
    """[start, end) of a local day in epoch milliseconds (23 or 25 h on DST days)."""
    tz = zone(tz_name)
    start = datetime.strptime(day_label(day), "%Y-%m-%d").replace(tzinfo=tz)
    end = datetime.strptime(day_label(day + 1), "%Y-%m-%d").replace(tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)
