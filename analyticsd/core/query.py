"""Stats API v1 queries: parameters → a validated, normalised `Query` (pure).

The parameters are Plausible's (site_id, period, date, metrics, property,
filters, interval, compare, limit, page). Parsing names the offending
parameter in a QueryError; nothing here touches storage, and "today" is
passed in, so relative periods are plain arithmetic.

A `Query` is normalised: the period is resolved to local day numbers,
metrics keep their order, filters are sorted. Two requests asking the same
question give equal queries, which is what the query cache keys on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from analyticsd.core.aggregate import (
    ENTRY_PAGE,
    EXIT_PAGE,
    GOAL,
    PAGE,
    PROP,
    SESSION_DIMS,
    VISITOR_CONSTANT_DIMS,
    day_label,
    day_number,
    month_first_day,
    month_of,
)
from analyticsd.core.errors import QueryError

if TYPE_CHECKING:  # the v2 filter tree is built on this module's properties
    from analyticsd.core.v2filters import Expr

PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "year", "custom")
INTERVALS = ("minute", "hour", "date", "week", "month")
STANDARD_METRICS = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "engaged_visits",
    "engagement_rate",
    "events",
    "conversion_rate",
    "revenue",
    "average_revenue",
    "scroll_depth",
    "time_on_page",
)
# Metrics of the engagement rows (core.engagement), per page only.
ENGAGEMENT_METRICS = frozenset({"scroll_depth", "time_on_page"})
MAX_LIMIT = 1000
MAX_RANGE_DAYS = 3 * 366
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Prop:
    """A property of the Stats API and where its values live."""

    name: str  # event:page, visit:source, event:props:plan ...
    key: str  # the key of breakdown rows: page, source, plan ...
    kind: str  # "event", "visit", "entry_exit", "name"
    dim: int  # rollup dimension code (-1: per-event rows only)
    column: str  # per-event SQL: e.path, s.d_source ...
    prop_name: str = ""  # for event:props:NAME
    # Values stored as "a\x1fb" (browser version, region, city): the API shows
    # and filters on b, and names a in `parent`.
    joined: bool = False
    parent: str = ""
    # Visitor-constant: a visitor has one value per day, so daily visitors of
    # several values add up exactly.
    constant: bool = False


def _visit_props() -> dict[str, Prop]:
    out: dict[str, Prop] = {}
    parents = {
        "browser_version": "browser",
        "os_version": "os",
        "region": "country",
        "city": "country",
    }
    for code, name in SESSION_DIMS:
        short = name.split(":", 1)[1]
        out[name] = Prop(
            name,
            short,
            "visit",
            code,
            f"s.d_{short}",
            joined=short in parents,
            parent=parents.get(short, ""),
            constant=code in VISITOR_CONSTANT_DIMS,
        )
    return out


PROPS: dict[str, Prop] = {
    "event:page": Prop("event:page", "page", "event", PAGE, "e.path"),
    "event:goal": Prop("event:goal", "goal", "event", GOAL, ""),
    "event:name": Prop("event:name", "name", "name", -1, "e.name"),
    "visit:entry_page": Prop("visit:entry_page", "entry_page", "entry_exit", ENTRY_PAGE, "s.entry"),
    "visit:exit_page": Prop("visit:exit_page", "exit_page", "entry_exit", EXIT_PAGE, "s.exit"),
    **_visit_props(),
}
_PROP_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,256}$')


def prop_of(name: str, param: str) -> Prop:
    known = PROPS.get(name)
    if known is not None:
        return known
    if name.startswith("event:props:"):
        key = name[len("event:props:") :]
        if not _PROP_KEY.match(key):
            raise QueryError(param, f"bad custom property name {key!r}")
        return Prop(name, key, "event", PROP, "", prop_name=key)
    raise QueryError(
        param,
        f"unknown property {name!r}; use one of {', '.join(sorted(PROPS))} or event:props:NAME",
    )


@dataclass(frozen=True, order=True)
class Filter:
    prop: str
    negate: bool
    values: tuple[str, ...]

    @property
    def wildcard(self) -> bool:
        return any("*" in v for v in self.values)

    @property
    def simple(self) -> bool:
        """One value, equality, no wildcard: answerable from one rollup row."""
        return not self.negate and len(self.values) == 1 and not self.wildcard


def parse_filters(text: str) -> tuple[Filter, ...]:
    """`visit:source==Google;event:page!=/a|/b` → filters (AND of ORs)."""
    out: list[Filter] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([a-z_]+:[^=!]+?)\s*(==|!=)\s*(.*)$", part, re.S)
        if m is None:
            raise QueryError("filters", f"cannot read {part!r}; expected PROPERTY==VALUE or !=")
        name, op, raw = m.group(1).strip(), m.group(2), m.group(3)
        prop = prop_of(name, "filters")
        values = tuple(v for v in raw.split("|"))
        if not all(values) or len(values) > 100:
            raise QueryError("filters", f"{name}: between 1 and 100 non-empty values, split by |")
        if any(len(v) > 2000 for v in values):
            raise QueryError("filters", f"{name}: values are at most 2000 characters")
        if prop.dim == GOAL and op == "!=":
            raise QueryError("filters", "event:goal supports == only")
        out.append(Filter(prop.name, op == "!=", values))
    props = [f.prop for f in out]
    if len(set(props)) != len(props):
        raise QueryError("filters", "each property may be filtered once")
    return tuple(sorted(out))


def glob_regex(value: str) -> re.Pattern[str]:
    """`*` matches any run of characters, everything else is literal."""
    return re.compile("^" + ".*".join(re.escape(p) for p in value.split("*")) + "$", re.S)


@dataclass(frozen=True)
class Range:
    """Local days [first, last] of a site."""

    first: int
    last: int

    @property
    def days(self) -> int:
        return self.last - self.first + 1

    def label(self) -> list[str]:
        return [day_label(self.first), day_label(self.last)]


def period_range(period: str, date_param: str, today: int) -> Range:
    """The local days a period covers; `date` anchors it (default: today)."""
    if period not in PERIODS:
        raise QueryError("period", f"must be one of {', '.join(PERIODS)}")
    if period == "custom":
        parts = date_param.split(",")
        if len(parts) != 2:
            raise QueryError("date", "custom period needs date=YYYY-MM-DD,YYYY-MM-DD")
        a, b = (_day(p.strip()) for p in parts)
        if b < a:
            raise QueryError("date", "the end date is before the start date")
        if b - a + 1 > MAX_RANGE_DAYS:
            raise QueryError("date", f"a custom range is at most {MAX_RANGE_DAYS} days")
        return Range(a, b)
    anchor = _day(date_param) if date_param else today
    if period == "day":
        return Range(anchor, anchor)
    if period in ("7d", "30d"):
        n = int(period[:-1])
        return Range(anchor - n + 1, anchor)
    month = month_of(anchor)
    if period == "month":
        return Range(month_first_day(month), month_first_day(month + 1) - 1)
    if period == "year":
        first = month - month % 12
        return Range(month_first_day(first), month_first_day(first + 12) - 1)
    n = 6 if period == "6mo" else 12
    return Range(month_first_day(month - n + 1), month_first_day(month + 1) - 1)


def previous_range(r: Range, period: str) -> Range:
    """The period before `r`: the previous calendar month(s) for month periods,
    otherwise the same number of days right before it."""
    if period in ("month", "6mo", "12mo", "year"):
        m0, m1 = month_of(r.first), month_of(r.last)
        n = m1 - m0 + 1
        return Range(month_first_day(m0 - n), month_first_day(m0) - 1)
    return Range(r.first - r.days, r.first - 1)


def _day(text: str) -> int:
    try:
        d = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise QueryError("date", f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not date(1971, 1, 1) <= d <= date(9998, 1, 1):
        raise QueryError("date", f"{text!r} is out of range")
    return day_number(text)


@dataclass(frozen=True)
class CustomMetric:
    """A `[[metrics]]` definition, validated (see core.config)."""

    name: str
    type: str  # count, sum, avg, distinct, ratio
    event: str = ""
    page: str = ""
    goal: str = ""
    props: tuple[tuple[str, str], ...] = ()
    field: str = ""  # sum/avg: "revenue" or "props.NAME"
    of: str = ""  # distinct: visitor, session, user or props.NAME
    numerator: str = ""
    denominator: str = ""


@dataclass(frozen=True)
class Query:
    site: str
    tz: str
    range: Range
    metrics: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    prop: str = ""  # breakdown property
    interval: str = ""  # timeseries interval
    compare: bool = False
    limit: int = 100
    page: int = 1
    period: str = "30d"
    # Stats API v2 only: a filter tree v1's flat filters cannot express (it
    # replaces `filters`), and several dimensions grouped together (they
    # replace `prop`). Either sends the query to the per-event engine.
    where: Expr | None = None
    dims: tuple[str, ...] = ()

    def with_range(self, r: Range) -> Query:
        return replace(self, range=r, compare=False)


def parse_metrics(text: str, custom: Mapping[str, CustomMetric], default: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in (text or default).split(",") if m.strip())
    if not names:
        raise QueryError("metrics", "at least one metric is required")
    for name in names:
        if name not in STANDARD_METRICS and name not in custom:
            known = ", ".join((*STANDARD_METRICS, *sorted(custom)))
            raise QueryError("metrics", f"unknown metric {name!r}; known: {known}")
    if len(set(names)) != len(names):
        raise QueryError("metrics", "a metric is listed twice")
    return names


def _int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise QueryError(name, f"must be an integer between {lo} and {hi}")
    return int(raw)


def default_interval(r: Range) -> str:
    if r.days == 1:
        return "hour"
    return "month" if r.days > 62 else "date"


def parse_query(
    endpoint: str,
    args: Mapping[str, str],
    tz: str,
    today: int,
    custom: Mapping[str, CustomMetric],
) -> Query:
    """Validate the parameters of one endpoint (aggregate, timeseries, breakdown)."""
    site = args.get("site_id", "")
    period = args.get("period", "") or "30d"
    r = period_range(period, args.get("date", ""), today)
    metrics = parse_metrics(args.get("metrics", ""), custom, "visitors")
    filters = parse_filters(args.get("filters", ""))
    prop, interval = "", ""
    if endpoint == "breakdown":
        if not args.get("property"):
            raise QueryError("property", "breakdown needs a property")
        prop = prop_of(args["property"], "property").name
    elif args.get("property"):
        raise QueryError("property", f"{endpoint} takes no property (use breakdown)")
    if endpoint in ("timeseries", "rollups"):
        interval = args.get("interval", "") or default_interval(r)
        allowed = ("week", "month") if endpoint == "rollups" else INTERVALS
        if interval not in allowed:
            raise QueryError("interval", f"must be one of {', '.join(allowed)}")
        if interval == "minute" and r.days > 1:
            raise QueryError("interval", "minute is only for one day (period=day)")
        if interval == "hour" and r.days > 31:
            raise QueryError("interval", "hour is for at most 31 days")
    elif args.get("interval"):
        raise QueryError("interval", f"{endpoint} takes no interval")
    compare = args.get("compare", "")
    if compare not in ("", "previous_period"):
        raise QueryError("compare", "only previous_period is supported")
    goal_based = prop == "event:goal" or any(f.prop == "event:goal" for f in filters)
    if "conversion_rate" in metrics and not goal_based:
        raise QueryError("metrics", "conversion_rate needs an event:goal filter or breakdown")
    return Query(
        site,
        tz,
        r,
        metrics,
        filters,
        prop,
        interval,
        bool(compare),
        _int(args, "limit", 100, 1, MAX_LIMIT),
        _int(args, "page", 1, 1, 1_000_000),
        period,
    )


# -- time buckets of a series ------------------------------------------------


def series_buckets(r: Range, interval: str) -> list[tuple[str, int, int]]:
    """(label, first day, last day) per point, clipped to the range.

    Hours and minutes are expanded by the engines (they are within one or a
    few days); weeks start on Monday.
    """
    out: list[tuple[str, int, int]] = []
    d = r.first
    while d <= r.last:
        if interval == "week":
            end = d + (6 - (d + 3) % 7)  # day 0 (1970-01-01) was a Thursday
            start_label = day_label(d - (d + 3) % 7)
        elif interval == "month":
            end = month_first_day(month_of(d) + 1) - 1
            start_label = day_label(month_first_day(month_of(d)))
        else:
            end, start_label = d, day_label(d)
        end = min(end, r.last)
        out.append((start_label, d, end))
        d = end + 1
    return out


def change(current: float | None, previous: float | None, points: bool = False) -> float | None:
    """Percent change, or the difference in points for percentages (bounce rate)."""
    if current is None or previous is None:
        return None
    if points:
        return round(current - previous, 1)
    if previous == 0:
        return 0.0 if current == 0 else None  # no basis for a percentage
    return round((current - previous) / previous * 100, 1)
