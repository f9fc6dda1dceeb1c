"""Which rows answer a stats question, and how buckets fold into points (pure).

The rollup rows (core.aggregate) hold, per dimension value, only some
metrics: `rollup_dim` says whether one dimension's rows answer a query, so
the engine can read them instead of per-event rows. Time buckets are local
hour, day, week (Monday) and month numbers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from analyticsd.core.aggregate import (
    DAY,
    GOAL,
    HOUR,
    MONTH,
    PROP,
    WEEK,
    day_label,
    month_first_day,
    month_of,
    week_first_day,
    week_of,
)
from analyticsd.core.dimensions import NO_PROP
from analyticsd.core.errors import QueryError
from analyticsd.core.query import ENGAGEMENT_METRICS, Prop, Query, Range, prop_of

# Metrics each kind of rollup row can give (see core.aggregate for what the
# rows count). Anything else goes to the raw engine.
_SITE_METRICS = frozenset(
    {"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
     "engaged_visits", "engagement_rate", "events", "revenue", "average_revenue"}
)  # fmt: skip
_VISIT_METRICS = _SITE_METRICS - {"revenue", "average_revenue"}
_ENTRY_METRICS = _VISIT_METRICS - {"visitors"}
_EVENT_METRICS = frozenset({"visitors", "pageviews", "events"})
_GOAL_METRICS = frozenset({"visitors", "events", "conversion_rate", "revenue", "average_revenue"})


def bucket_label(unit: str, n: int) -> str:
    if unit == "minute":
        return (datetime(1970, 1, 1) + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:00")
    if unit == "hour":
        return (datetime(1970, 1, 1) + timedelta(hours=n)).strftime("%Y-%m-%d %H:00:00")
    if unit == "week":
        return day_label(n * 7 - 3)
    if unit == "month":
        return day_label(month_first_day(n))
    return day_label(n)


def unit_of(interval: str) -> str:
    return {"date": "day", "": "none"}.get(interval, interval)


def day_bucket(unit: str, day: int) -> int:
    """The bucket of `unit` a local day falls in (rollup folding)."""
    if unit == "week":
        return (day + 3) // 7
    if unit == "month":
        return month_of(day)
    if unit == "none":
        return 0
    return day


def rollup_dim(q: Query) -> tuple[Prop | None, str | None] | None:
    """(property whose rows answer q, its filter value), or None for the raw engine."""
    if q.interval == "minute" or q.where is not None or q.dims:
        return None
    if len(q.filters) > 1 or any(not f.simple for f in q.filters):
        return None
    f = q.filters[0] if q.filters else None
    name = q.prop or (f.prop if f else "")
    if f is not None and f.prop != name:
        return None
    metrics = set(q.metrics)
    if not name:
        return (None, None) if metrics <= _SITE_METRICS else None
    prop = prop_of(name, "property")
    if prop.dim < 0:
        return None
    if prop.dim == PROP and f is not None and f.values[0] == NO_PROP:
        return None  # events without the property: no row holds them
    if prop.kind == "visit":
        allowed = _VISIT_METRICS
    elif prop.kind == "entry_exit":
        allowed = _ENTRY_METRICS
    elif prop.dim == GOAL:
        allowed = _GOAL_METRICS
    else:
        allowed = _EVENT_METRICS
    if not metrics <= allowed:
        return None
    return prop, (f.values[0] if f else None)


ENGAGEMENT_SCOPE = (
    "scroll_depth and time_on_page are kept per page (the engagement rows): they take an "
    "event:page breakdown or one event:page `is` filter of one page, no other filter or "
    "dimension than time"
)


def engagement_page(q: Query) -> tuple[bool, str | None]:
    """Whether q's engagement metrics are per page (a breakdown by page), and
    the one page a filter picks (None: every page). The engagement rows hold
    SITE and PAGE only, so nothing else can narrow them: a QueryError says so."""
    if q.interval == "minute":
        raise QueryError("metrics", "scroll_depth and time_on_page are kept by hour at most")
    if q.where is not None or q.dims:
        raise QueryError("metrics", ENGAGEMENT_SCOPE)
    if q.prop not in ("", "event:page") or len(q.filters) > 1:
        raise QueryError("metrics", ENGAGEMENT_SCOPE)
    f = q.filters[0] if q.filters else None
    if f is not None and (f.prop != "event:page" or not f.simple):
        raise QueryError("metrics", ENGAGEMENT_SCOPE)
    if f is None and not q.prop:
        raise QueryError(
            "metrics", "scroll_depth and time_on_page need an event:page filter or breakdown"
        )
    return bool(q.prop), (f.values[0] if f else None)


def without_engagement(q: Query) -> tuple[Query, bool]:
    """q without its engagement metrics (visitors if nothing is left, for the
    groups), and whether it had any."""
    if not ENGAGEMENT_METRICS & set(q.metrics):
        return q, False
    rest = tuple(m for m in q.metrics if m not in ENGAGEMENT_METRICS) or ("visitors",)
    return replace(q, metrics=rest), True


def rollup_buckets(r: Range, unit: str) -> list[tuple[int, list[int]]]:
    """[(granularity, buckets)] covering the range with as few rows as the
    unit allows: whole months from MONTH rows, then whole weeks (Monday to
    Sunday) from WEEK rows, the days left over from DAY rows; hours from HOUR.

    A point of a month series can only take weeks that lie within its month,
    and a day series only days."""
    if unit == "hour":
        return [(HOUR, [h for d in range(r.first, r.last + 1) for h in range(d * 24, d * 24 + 24)])]
    if unit == "day":
        return [(DAY, list(range(r.first, r.last + 1)))]
    months: list[int] = []
    weeks: list[int] = []
    days: list[int] = []
    d = r.first
    while d <= r.last:
        m = month_of(d)
        month_end = month_first_day(m + 1) - 1
        week_end = d + 6
        if unit != "week" and d == month_first_day(m) and month_end <= r.last:
            months.append(m)
            d = month_end + 1
        elif (
            (d + 3) % 7 == 0  # a Monday
            and week_end <= r.last
            and (unit != "month" or week_end <= month_end)
            and not _month_starts_within(d, week_end, r.last, unit)
        ):
            weeks.append(week_of(d))
            d = week_end + 1
        else:
            days.append(d)
            d += 1
    return [(g, b) for g, b in ((MONTH, months), (WEEK, weeks), (DAY, days)) if b]


def _month_starts_within(first: int, last: int, range_last: int, unit: str) -> bool:
    """Whether a whole month of the range starts inside this week: the week
    would then hide that month's MONTH row (a month is fewer rows than its
    weeks)."""
    if unit == "week":
        return False
    for d in range(first + 1, last + 1):
        m = month_of(d)
        if d == month_first_day(m) and month_first_day(m + 1) - 1 <= range_last:
            return True
    return False


def fold(gran: int, bucket: int, unit: str) -> int:
    """The point (of `unit`) a rollup row of `gran` and `bucket` belongs to."""
    if unit == "none":
        return 0
    if unit == "hour" or gran == MONTH or (gran == WEEK and unit == "week"):
        return bucket
    if gran == WEEK:  # within one month by construction (rollup_buckets)
        return month_of(week_first_day(bucket))
    return day_bucket(unit, bucket)
