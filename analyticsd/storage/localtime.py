"""Local wall-clock time in SQL: epoch milliseconds → a site's hours and days.

SQLite knows no time zones, so the UTC offsets of the queried range (they
change with daylight saving) are computed here and written into the query
as a CASE over the instants where they change. Bucket numbers equal those of
core.aggregate (tests check it across DST changes in several zones).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from analyticsd.core.buckets import zone
from analyticsd.storage.dialect import SQLITE, Dialect

_MS_PER = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def _offset_ms(tz: Any, ms: int) -> int:
    off = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    return int(off.total_seconds() * 1000) if off else 0


def offset_steps(tz_name: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[(from_ms, utc offset ms)] covering [start_ms, end_ms): the UTC offset
    changes at each from_ms (daylight saving)."""
    tz = zone(tz_name)
    day = 86_400_000
    steps = [(start_ms - day, _offset_ms(tz, start_ms - day))]
    t = start_ms - day
    while t < end_ms + day:
        nxt = t + day
        if _offset_ms(tz, nxt) != steps[-1][1]:
            lo, hi = t, nxt  # offsets change on quarter hours; bisect to one
            while hi - lo > 15 * 60_000:
                mid = (lo + hi) // 2 // 60_000 * 60_000
                if _offset_ms(tz, mid) == steps[-1][1]:
                    lo = mid
                else:
                    hi = mid
            hi = (hi // (15 * 60_000)) * 15 * 60_000
            while _offset_ms(tz, hi) == steps[-1][1]:
                hi += 15 * 60_000
            steps.append((hi, _offset_ms(tz, hi)))
        t = nxt
    return steps


def local_sql(column: str, steps: Sequence[tuple[int, int]]) -> str:
    """SQL for the local wall-clock milliseconds of an epoch-ms column."""
    if len(steps) == 1:
        return f"({column} + {steps[0][1]})"
    cases = " ".join(f"WHEN {column} < {nxt} THEN {off}" for (_, off), (nxt, _) in pairwise(steps))
    return f"({column} + CASE {cases} ELSE {steps[-1][1]} END)"


def bucket_sql(local: str, unit: str, d: Dialect = SQLITE) -> str:
    """SQL for the bucket number of a local time (see core.aggregate)."""
    if unit == "none":
        return "0"
    if unit in _MS_PER:
        return f"({local} / {_MS_PER[unit]})"
    if unit == "week":
        return f"(({local} / 86400000 + 3) / 7)"
    return d.month(local)
