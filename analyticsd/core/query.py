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

from analyticsd.core import v1_rules
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
from analyticsd.core.dimensions import EMPTY_LABELS, NOT_SET
from analyticsd.core.errors import QueryError
from analyticsd.core.source import DIRECT_NAME, LEGACY_CHANNELS
from analyticsd.core.useragent import LEGACY_DEVICES

if TYPE_CHECKING:  # the v2 filter tree is built on this module's properties
    from analyticsd.core.v2filters import Expr

PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "year", "custom")
# "day" is Plausible's name of "date" (both are accepted, "date" is kept).
INTERVALS = ("minute", "hour", "date", "day", "week", "month")
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
    # Optional per event, as a custom property: the events without a value
    # are the "(none)" row of a breakdown, and what a "(none)" filter matches.
    none: bool = False


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


# The user id the client sent (`userId`), as it sent it: never derived from
# the address or user agent. A visit's is the first (by time) of its events'
# user ids, so the events of a visit before a sign-in count for its user too.
# The query engine works those out once per question, into a temporary table
# (storage.queries): looked up per event it would rescan the visit's events.
EVENT_USER = "e.user_id"
VISIT_USERS = "visit_users"
VISIT_USER = f"(SELECT u.user_id FROM temp.{VISIT_USERS} u WHERE u.session = s.id)"

PROPS: dict[str, Prop] = {
    "event:page": Prop("event:page", "page", "event", PAGE, "e.path"),
    "event:goal": Prop("event:goal", "goal", "event", GOAL, ""),
    "event:name": Prop("event:name", "name", "name", -1, "e.name"),
    "event:user": Prop("event:user", "user", "event", -1, EVENT_USER, none=True),
    "visit:user": Prop("visit:user", "user", "visit", -1, VISIT_USER, none=True),
    "visit:entry_page": Prop("visit:entry_page", "entry_page", "entry_exit", ENTRY_PAGE, "s.entry"),
    "visit:exit_page": Prop("visit:exit_page", "exit_page", "entry_exit", EXIT_PAGE, "s.exit"),
    **_visit_props(),
}
_PROP_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,256}$')
# Plausible's names for properties that are ours under another name.
ALIASES = {"event:hostname": "visit:hostname"}


def prop_of(name: str, param: str) -> Prop:
    known = PROPS.get(name)
    if known is not None:
        return known
    if name.startswith("event:props:"):
        key = name[len("event:props:") :]
        if not _PROP_KEY.match(key):
            if param == "property":
                raise v1_rules.bad_property(name)
            raise QueryError(param, f"bad custom property name {key!r}")
        return Prop(name, key, "event", PROP, "", prop_name=key)
    if param == "filters":
        raise v1_rules.bad_filter_property(name)
    if param == "property":
        raise v1_rules.bad_property(name)
    raise QueryError(
        param,
        f"unknown property {name!r}; use one of {', '.join(sorted(PROPS))} or event:props:NAME",
    )


# Filter values of earlier versions that still work (answers use Plausible's).
_ALIASES: dict[int, dict[str, str]] = {4: LEGACY_CHANNELS, 15: LEGACY_DEVICES}
_NO_REFERRER_DIMS = frozenset({5, 6, 7, 8, 9, 10})  # referrer, utm_*


def stored_value(prop: Prop, value: str) -> str:
    """The value the rows hold for a filter value of the API: Plausible's
    "(not set)" (and "Direct / None" for a referrer or UTM value) is the
    empty value, as in Plausible's filters; our earlier lower-case channels
    and devices are aliases."""
    if prop.dim in EMPTY_LABELS and (
        value == NOT_SET or (value == DIRECT_NAME and prop.dim in _NO_REFERRER_DIMS)
    ):
        return ""
    aliases = _ALIASES.get(prop.dim)
    return aliases.get(value, value) if aliases else value


def shown_value(prop: Prop | None, value: str) -> str:
    """A row's value as the API shows it: the empty value of a dimension
    Plausible labels is its label ("(not set)", "Direct / None")."""
    if value == "" and prop is not None:
        return EMPTY_LABELS.get(prop.dim, "")
    return value


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


def parse_filters(text: str, goals: tuple[str, ...] | None = None) -> tuple[Filter, ...]:
    """`visit:source==Google;event:page!=/a|/b` → filters (AND of ORs).

    `\\|` is a literal pipe in a value. With `goals` (the site's goal names),
    an event:goal filter must name configured goals."""
    out: list[Filter] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([a-z_]+:[^=!]+?)\s*(==|!=)\s*(.*)$", part, re.S)
        if m is None:
            name = re.split(r"[=!]", part, maxsplit=1)[0].strip()
            if name and ":" not in name:
                raise v1_rules.bad_filter_property(name)
            raise QueryError("filters", f"cannot read {part!r}; expected PROPERTY==VALUE or !=")
        name, op, raw = m.group(1).strip(), m.group(2), m.group(3)
        name = ALIASES.get(name, name)
        prop = prop_of(name, "filters")
        values = tuple(v.replace("\\|", "|") for v in re.split(r"(?<!\\)\|", raw))
        if not all(values) or len(values) > 100:
            raise QueryError("filters", f"{name}: between 1 and 100 non-empty values, split by |")
        if any(len(v) > 2000 for v in values):
            raise QueryError("filters", f"{name}: values are at most 2000 characters")
        if prop.dim == GOAL and op == "!=":
            raise QueryError("filters", "event:goal supports == only")
        if prop.dim == GOAL and goals is not None:
            v1_rules.check_goals(values, goals)
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
    """The local days a period covers; `date` anchors it (default: today).

    7d and 30d are the days before the anchor, as Plausible counts them: the
    anchor day itself (today, still filling up) is not one of them."""
    if period not in PERIODS:
        raise v1_rules.bad_period(period)
    if period == "custom":
        if not date_param:
            raise v1_rules.custom_needs_date()
        parts = date_param.split(",")
        if len(parts) != 2:
            raise v1_rules.bad_custom_date()
        try:
            a, b = (_day(p.strip()) for p in parts)
        except QueryError:
            raise v1_rules.bad_custom_date() from None
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
        return Range(anchor - n, anchor - 1)
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
        raise v1_rules.bad_date() from None
    if not date(1971, 1, 1) <= d <= date(9998, 1, 1):
        raise QueryError("date", f"{text!r} is out of range")
    return day_number(text)


# Custom metric types of a value per event: over no event they are null (an
# average or percentile of nothing is no number), where counts and sums are 0.
NULL_WHEN_EMPTY = frozenset({"avg", "min", "max", "percentile"})


@dataclass(frozen=True)
class CustomMetric:
    """A `[[metrics]]` definition, validated (see core.config)."""

    name: str
    type: str  # count, sum, avg, min, max, percentile, distinct, ratio
    event: str = ""
    page: str = ""
    goal: str = ""
    props: tuple[tuple[str, str], ...] = ()
    field: str = ""  # sum/avg/min/max/percentile: "revenue" or "props.NAME"
    of: str = ""  # distinct: visitor, session, user or props.NAME
    numerator: str = ""
    denominator: str = ""
    p: float | None = None  # percentile: 0-100


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
            raise v1_rules.unknown_metric(name)
    if len(set(names)) != len(names):
        raise v1_rules.whole("metrics", "Metrics cannot be queried multiple times.")
    return names


def _int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise QueryError(name, f"must be an integer between {lo} and {hi}")
    return int(raw)


def _limit(args: Mapping[str, str]) -> int:
    try:
        return _int(args, "limit", 100, 1, MAX_LIMIT)
    except QueryError:
        raise v1_rules.whole(
            "limit", f"Please provide limit as a number between 1 and {MAX_LIMIT}."
        ) from None


def default_interval(period: str) -> str:
    """Plausible's: hours of a day, months of 6mo/12mo/year, days otherwise
    (a custom range of one day too)."""
    if period == "day":
        return "hour"
    return "month" if period in ("6mo", "12mo", "year") else "date"


def parse_query(
    endpoint: str,
    args: Mapping[str, str],
    tz: str,
    today: int,
    custom: Mapping[str, CustomMetric],
    goals: tuple[str, ...] | None = None,
) -> Query:
    """Validate the parameters of one endpoint (aggregate, timeseries, breakdown).

    `goals`: the site's goal names, which event:goal filters must name.
    Aggregates and series ignore `property`, as Plausible's do."""
    site = args.get("site_id", "")
    period = args.get("period", "") or "30d"
    r = period_range(period, args.get("date", ""), today)
    metrics = parse_metrics(args.get("metrics", ""), custom, "visitors")
    text = args.get("filters", "")
    where = v1_rules.json_filters(text, goals or ()) if text.lstrip().startswith("[") else None
    filters = () if where is not None else parse_filters(text, goals)
    prop, interval = "", ""
    if endpoint == "breakdown":
        if not args.get("property"):
            raise v1_rules.missing_property()
        if args["property"] == "event:hostname":
            raise v1_rules.whole(
                "property", "Property 'event:hostname' is currently not supported for breakdowns."
            )
        prop = prop_of(args["property"], "property").name
    if endpoint in ("timeseries", "rollups"):
        interval = args.get("interval", "") or default_interval(period)
        allowed = ("week", "month") if endpoint == "rollups" else INTERVALS
        if interval not in allowed:
            if endpoint == "timeseries":
                raise v1_rules.bad_interval(interval, INTERVALS)
            raise QueryError("interval", f"must be one of {', '.join(allowed)}")
        interval = "date" if interval == "day" else interval
        if interval == "minute" and r.days > 1:
            raise QueryError("interval", "minute is only for one day (period=day)")
        if interval == "hour" and r.days > 31:
            raise QueryError("interval", "hour is for at most 31 days")
    elif args.get("interval"):
        raise QueryError("interval", f"{endpoint} takes no interval")
    compare = args.get("compare", "")
    if compare not in ("", "previous_period"):
        raise QueryError("compare", "only previous_period is supported")
    goal_based = (
        prop == "event:goal"
        or any(f.prop == "event:goal" for f in filters)
        or v1_rules.goal_filtered(where)
    )
    if "conversion_rate" in metrics and not goal_based:
        raise v1_rules.whole("metrics", v1_rules.NEEDS_GOAL)
    if "time_on_page" in metrics:
        from analyticsd.core.v2filters import leaves  # builds on this module

        filtered = {f.prop for f in filters} | {leaf.dim for leaf, _ in leaves(where)}
        v1_rules.check_time_on_page(prop, frozenset(filtered))
    return Query(
        site,
        tz,
        r,
        metrics,
        filters,
        prop,
        interval,
        bool(compare),
        _limit(args),
        _int(args, "page", 1, 1, 1_000_000),
        period,
        where,
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
