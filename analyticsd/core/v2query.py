"""Stats API v2: a `POST /api/v2/query` body → a validated `V2Query` (pure).

The body is Plausible's (site_id, metrics, date_range, dimensions, filters,
order_by, include, pagination, date), decoded with msgspec so a wrong type
is named by its JSON path. Messages follow Plausible's wording, so a client
written against Plausible reads the same `error` text.

A V2Query is translated into the v1 `Query` the engines already answer by
core.v2plan. Nothing here touches storage; "today" is passed in, the first
day with data (date range "all") is resolved later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgspec

from analyticsd.core.aggregate import day_number, month_first_day, month_of
from analyticsd.core.errors import QueryError
from analyticsd.core.query import MAX_RANGE_DAYS, CustomMetric, Range
from analyticsd.core.v2filters import (
    Expr,
    dimension_name,
    leaves,
    parse_filters,
    show,
)

METRICS = (
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
    "engaged_visits",
    "engagement_rate",
    "events",
    "percentage",
    "conversion_rate",
    "group_conversion_rate",
    "total_revenue",
    "average_revenue",
    "scroll_depth",
    "time_on_page",
)
# Plausible metrics whose events or columns this server does not record yet.
NOT_YET = ("exit_rate",)
# Page metrics of engagement events: Plausible asks for an event:page
# filter or dimension.
PAGE_METRICS = ("scroll_depth", "time_on_page")
TIME_DIMS = ("time", "time:minute", "time:hour", "time:day", "time:week", "time:month")
SESSION_METRICS = frozenset(
    {"bounce_rate", "visit_duration", "views_per_visit", "engaged_visits", "engagement_rate"}
)
DATE_RANGES = ("day", "month", "year", "all")
_SHORTHAND = re.compile(r"^(\d{1,4})(d|mo)$")
MAX_LIMIT = 10_000


class Include(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    imports: bool = False
    time_labels: bool = False
    total_rows: bool = False


class Pagination(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    limit: int = MAX_LIMIT
    offset: int = 0


class Body(msgspec.Struct, forbid_unknown_fields=True):
    site_id: str
    metrics: list[str]
    date_range: str | list[str]
    dimensions: list[str] = []
    filters: list[Any] = []
    order_by: list[tuple[str, str]] | None = None
    include: Include = Include()
    pagination: Pagination = Pagination()
    date: str | None = None


@dataclass(frozen=True)
class V2Query:
    site: str
    tz: str
    range: Range | None  # None: "all", resolved once the first day is known
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]  # as requested (time dims included)
    where: Expr | None = None
    order_by: tuple[tuple[str, str], ...] = ()
    include: Include = field(default_factory=Include)
    limit: int = MAX_LIMIT
    offset: int = 0

    @property
    def time_dim(self) -> str:
        return next((d for d in self.dimensions if d in TIME_DIMS), "")

    @property
    def goal_based(self) -> bool:
        """A goal dimension or a top-level goal filter (conversion rate, revenue)."""
        return "event:goal" in self.dimensions or any(
            leaf.dim == "event:goal" and depth == 0 for leaf, depth in leaves(self.where)
        )

    @property
    def props(self) -> tuple[str, ...]:
        """The non-time dimensions, as internal property names."""
        return tuple(dimension_name(d) or d for d in self.dimensions if d not in TIME_DIMS)


def _path(e: msgspec.ValidationError) -> str:
    """msgspec's `... - at `$.metrics[1]`` → Plausible's `#/metrics/1: ...`."""
    text = str(e)
    message, _, where = text.partition(" - at `")
    where = where.rstrip("`").removeprefix("$")
    pointer = "#" + re.sub(r"\[(\d+)\]", r"/\1", where).replace(".", "/")
    return f"{pointer}: {message}"


def decode_body(raw: bytes) -> Body:
    try:
        return msgspec.json.decode(raw, type=Body)
    except msgspec.ValidationError as e:
        raise QueryError("body", _path(e)) from None
    except msgspec.DecodeError:
        raise QueryError("body", "The request body is not valid JSON.") from None


def _unique(items: list[str], where: str) -> None:
    if len(set(items)) != len(items):
        raise QueryError(where, f"#/{where}: Expected items to be unique but they were not.")


def _metrics(names: list[str], custom: Mapping[str, CustomMetric]) -> tuple[str, ...]:
    if not names:
        raise QueryError("metrics", "#/metrics: Expected a minimum of 1 items but got 0.")
    for i, m in enumerate(names):
        if m in NOT_YET:
            raise QueryError("metrics", f"Metric `{m}` is not supported by this server yet.")
        if m not in METRICS and m not in custom:
            raise QueryError("metrics", f'#/metrics/{i}: Invalid metric "{m}"')
    _unique(names, "metrics")
    return tuple(names)


def _dimensions(names: list[str]) -> tuple[str, ...]:
    for i, d in enumerate(names):
        if d not in TIME_DIMS and dimension_name(d) is None:
            raise QueryError("dimensions", f'#/dimensions/{i}: Invalid dimension "{d}"')
    _unique(names, "dimensions")
    if sum(d in TIME_DIMS for d in names) > 1:
        raise QueryError("dimensions", "Only one time dimension can be queried at a time.")
    return tuple(names)


def _day(text: str, what: str) -> int:
    try:
        d = date.fromisoformat(text[:10]) if len(text) > 10 else date.fromisoformat(text)
        if len(text) > 10:
            datetime.fromisoformat(text)  # a timestamp: its calendar day is used
    except ValueError:
        raise QueryError(what, f"Invalid {what} {show(text)}.") from None
    if not date(1971, 1, 1) <= d <= date(9998, 1, 1):
        raise QueryError(what, f"Invalid {what} {show(text)}.")
    return day_number(d.isoformat())


def date_range(raw: str | list[str], today: int) -> Range | None:
    """Plausible's ranges: relative ones end yesterday (Nd) or last month (Nmo);
    day, month and year hold `today`; a pair of dates is inclusive."""
    if isinstance(raw, list):
        if len(raw) != 2:
            raise QueryError("date_range", f"Invalid date_range {show(raw)}")
        first, last = (_day(t, "date_range") for t in raw)
        if last < first:
            raise QueryError(
                "date_range", f"Invalid date_range {show(raw)}: ends before it starts."
            )
        if last - first + 1 > MAX_RANGE_DAYS:
            raise QueryError("date_range", f"A date_range is at most {MAX_RANGE_DAYS} days.")
        return Range(first, last)
    if raw == "all":
        return None
    if raw == "day":
        return Range(today, today)
    month = month_of(today)
    if raw == "month":
        return Range(month_first_day(month), month_first_day(month + 1) - 1)
    if raw == "year":
        first = month - month % 12
        return Range(month_first_day(first), month_first_day(first + 12) - 1)
    m = _SHORTHAND.match(raw)
    if m and int(m.group(1)) > 0:
        n = int(m.group(1))
        if m.group(2) == "d" and n <= MAX_RANGE_DAYS:
            return Range(today - n, today - 1)
        if m.group(2) == "mo" and n <= 36:
            return Range(month_first_day(month - n), month_first_day(month) - 1)
    raise QueryError("date_range", f'#/date_range: Invalid date range "{raw}"')


def parse_v2(
    body: Body,
    tz: str,
    today: int,
    goals: tuple[str, ...],
    custom: Mapping[str, CustomMetric],
) -> V2Query:
    """Validate a decoded body for a site (its time zone, today, its goal names)."""
    metrics = _metrics(body.metrics, custom)
    if body.date is not None:
        today = _day(body.date, "date")
    r = date_range(body.date_range, today)
    where = parse_filters(body.filters)
    dims = _dimensions(body.dimensions)
    p = body.pagination
    if not 1 <= p.limit <= MAX_LIMIT or p.offset < 0:
        raise QueryError(
            "pagination", f"#/pagination: limit is 1 to {MAX_LIMIT} and offset at least 0."
        )
    q = V2Query(
        body.site_id,
        tz,
        r,
        metrics,
        dims,
        where,
        _order_by(body.order_by, metrics, dims),
        body.include,
        p.limit,
        p.offset,
    )
    _validate(q, goals)
    return q


def _order_by(
    raw: list[tuple[str, str]] | None, metrics: tuple[str, ...], dims: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """The explicit order, or Plausible's default: time first, then the first metric."""
    if raw is None:
        time = [(d, "asc") for d in dims if d in TIME_DIMS]
        return (*time, (metrics[0], "desc"))
    for name, direction in raw:
        if direction not in ("asc", "desc"):
            raise QueryError("order_by", f"Invalid order_by entry '{show([name, direction])}'.")
        if name not in metrics and name not in dims:
            raise QueryError(
                "order_by",
                f"Invalid order_by entry '{show([name, direction])}'. "
                "Entry is not a queried metric or dimension.",
            )
    return tuple(raw)


def _validate(q: V2Query, goals: tuple[str, ...]) -> None:
    _validate_filters(q, goals)
    _validate_metrics(q)
    _no_session_event_conflict(q)
    if q.include.time_labels and not q.time_dim:
        raise QueryError("include", "Invalid include.time_labels: requires a time dimension.")
    if q.time_dim in ("time:minute", "time:hour") and q.range is not None:
        limit = 1 if q.time_dim == "time:minute" else 31
        if q.range.days > limit:
            raise QueryError("dimensions", f"{q.time_dim} is for ranges of at most {limit} day(s).")


def _validate_filters(q: V2Query, goals: tuple[str, ...]) -> None:
    for leaf, depth in leaves(q.where):
        if depth > 0 and leaf.shown in ("event:goal", "event:hostname"):
            raise QueryError(
                "filters",
                f"Invalid filters. Dimension `{leaf.shown}` can only be filtered at the top level.",
            )
        if leaf.dim != "event:goal":
            continue
        if leaf.negated:
            raise QueryError(
                "filters", "Invalid filters. event:goal supports is and contains only."
            )
        if leaf.op == "is":
            known = goals if leaf.case_sensitive else tuple(g.lower() for g in goals)
            for g in leaf.values:
                if (g if leaf.case_sensitive else g.lower()) not in known:
                    raise QueryError(
                        "filters",
                        f"Invalid filters. The goal `{g}` is not configured for this site. "
                        "Find out how to configure goals here: "
                        "https://plausible.io/docs/stats-api#filtering-by-goals",
                    )


def _validate_metrics(q: V2Query) -> None:
    for m in ("conversion_rate", "group_conversion_rate"):
        if m in q.metrics and not q.goal_based:
            raise QueryError(
                "metrics",
                f"Metric `{m}` can only be queried with event:goal filters or dimensions.",
            )
    page_scoped = "event:page" in q.dimensions or any(
        leaf.dim == "event:page" and depth == 0 for leaf, depth in leaves(q.where)
    )
    for m in PAGE_METRICS:
        if m in q.metrics and not page_scoped:
            raise QueryError(
                "metrics",
                f"Metric `{m}` can only be queried with event:page filters or dimensions.",
            )
    if "views_per_visit" in q.metrics:
        if any(leaf.dim == "event:page" for leaf, _ in leaves(q.where)):
            raise QueryError(
                "metrics",
                "Metric `views_per_visit` cannot be queried with a filter on `event:page`.",
            )
        if q.dimensions:
            raise QueryError(
                "metrics", "Metric `views_per_visit` cannot be queried with `dimensions`."
            )


def _no_session_event_conflict(q: V2Query) -> None:
    event_dims = [d for d in q.dimensions if d.startswith("event:") and d not in TIME_DIMS]
    session = [m for m in q.metrics if m in SESSION_METRICS]
    # event:page is answered per page view's visit, as Plausible does.
    if session and event_dims and event_dims != ["event:page"]:
        raise QueryError(
            "metrics",
            f"Session metric(s) `{', '.join(session)}` cannot be queried along with event "
            f"dimension(s) `{', '.join(event_dims)}`",
        )
