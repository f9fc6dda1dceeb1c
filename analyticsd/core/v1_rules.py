"""Stats API v1: Plausible's wording and the rules its clients rely on (pure).

Plausible's clients read `error` and some match its sentences, so the v1
answers use them word for word where Plausible has one; our own checks keep
their "param: message" form. The JSON filter list (Plausible's v2 filters,
which its v1 accepts too) becomes our v2 filter tree.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from analyticsd.core.errors import QueryError

if TYPE_CHECKING:  # the v2 filter tree is built on core.query, which uses this module
    from analyticsd.core.v2filters import Expr

DOCS = "https://plausible.io/docs/stats-api"
MISSING_KEY = "Missing API key. Please use a valid Plausible API key as a Bearer Token."
INVALID_KEY = (
    "Invalid API key or site ID. Please make sure you're using a valid API key "
    "with access to the site you've requested."
)
MISSING_SITE = "Missing site ID. Please provide the required site_id parameter with your request."
GOAL_DOCS = f"Find out how to configure goals here: {DOCS}#filtering-by-goals"
NEEDS_GOAL = (
    "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter"
)
# Plausible's operators of the JSON filter list that our tree spells otherwise.
_WILDCARD_OPS = {"matches_wildcard": "matches", "matches_wildcard_not": "matches_not"}


def whole(param: str, message: str) -> QueryError:
    return QueryError(param, message, whole=True)


def bad_date() -> QueryError:
    return whole(
        "date",
        "Error parsing `date` parameter: invalid_format. "
        "Please specify a valid date in ISO-8601 format.",
    )


def bad_period(period: str) -> QueryError:
    return whole(
        "period",
        f"Error parsing `period` parameter: invalid period `{period}`. "
        f"Please find accepted values in our docs: {DOCS}#time-periods",
    )


def custom_needs_date() -> QueryError:
    return whole(
        "date",
        f"The `date` parameter is required when using a custom period. See {DOCS}#time-periods",
    )


def bad_custom_date() -> QueryError:
    return whole(
        "date",
        "Invalid format for `date` parameter. When using a custom period, please include two "
        f"ISO-8601 formatted dates joined by a comma. See {DOCS}#time-periods",
    )


def unknown_metric(name: str) -> QueryError:
    return whole(
        "metrics",
        f"The metric `{name}` is not recognized. "
        f"Find valid metrics from the documentation: {DOCS}#metrics",
    )


def bad_interval(interval: str, ours: tuple[str, ...]) -> QueryError:
    extra = ", ".join(f"`{i}`" for i in ours if i not in ("date", "day", "month"))
    return whole(
        "interval",
        f"Error parsing `interval` parameter: invalid interval `{interval}`. "
        f"Valid intervals are `day`, `month` (and here also {extra})",
    )


def bad_filter_property(name: str) -> QueryError:
    return whole(
        "filters",
        f"Invalid filter property '{name}'. "
        f"Please provide a valid filter property: {DOCS}#properties",
    )


def bad_property(name: str) -> QueryError:
    return whole(
        "property",
        f"Invalid property '{name}'. "
        f"Please provide a valid property for the breakdown endpoint: {DOCS}#properties",
    )


def missing_property() -> QueryError:
    return whole(
        "property",
        "The `property` parameter is required. "
        "Please provide at least one property to show a breakdown by.",
    )


def check_goals(values: tuple[str, ...], goals: tuple[str, ...]) -> None:
    """Every goal named in an event:goal filter is one of the site's goals:
    a 400 as Plausible answers, not a silent 0."""
    for g in values:
        if "*" in g and any(re.fullmatch(_glob(g), known) for known in goals):
            continue
        if g in goals:
            continue
        if g.startswith("Visit "):
            raise whole(
                "filters",
                f"The pageview goal for the pathname `{g[6:]}` is not configured for this "
                f"site. {GOAL_DOCS}",
            )
        raise whole("filters", f"The goal `{g}` is not configured for this site. {GOAL_DOCS}")


def _glob(value: str) -> str:
    return ".*".join(re.escape(p) for p in value.split("*"))


def json_filters(text: str, goals: tuple[str, ...]) -> Expr | None:
    """`[["is", "event:page", ["/a"]], ...]`: Plausible's JSON filter list."""
    from analyticsd.core.v2filters import leaves, parse_filters  # see TYPE_CHECKING above

    try:
        raw = json.loads(text)
    except ValueError:
        raise QueryError("filters", "starts with [ but is not a JSON filter list") from None
    tree = parse_filters(_wildcards(raw))
    for leaf, depth in leaves(tree):
        if leaf.dim == "event:goal":
            if depth > 0 or leaf.negated:
                raise QueryError("filters", "event:goal is filtered at the top level, with is")
            if leaf.op == "is":
                check_goals(leaf.values, goals)
    return tree


def goal_filtered(where: Expr | None) -> bool:
    from analyticsd.core.v2filters import leaves  # see TYPE_CHECKING above

    return any(leaf.dim == "event:goal" for leaf, _ in leaves(where))


def check_time_on_page(prop: str, filtered: frozenset[str]) -> None:
    """Plausible's v1 rules for `time_on_page`, in its order: no goal or
    event name filter, no breakdown but by page, else a page filter.
    `filtered`: the properties the query filters on."""
    metric = "Metric `time_on_page`"
    for dim in ("event:goal", "event:name"):
        if dim in filtered:
            raise whole("metrics", f"{metric} cannot be queried when filtering by `{dim}`")
    if prop == "event:page":
        return
    if prop:
        raise whole(
            "metrics",
            f"{metric} is not supported in breakdown queries (except `event:page` breakdown)",
        )
    if "event:page" not in filtered:
        raise whole(
            "metrics", f"{metric} can only be queried in a page breakdown or with a page filter."
        )


def _wildcards(raw: Any) -> Any:
    """`matches_wildcard` (`*` any run) as the `matches` pattern it stands for."""
    if not isinstance(raw, list):
        return raw
    op = raw[0] if raw and isinstance(raw[0], str) else ""
    if op in _WILDCARD_OPS and len(raw) >= 3 and isinstance(raw[2], list):
        pats = [f"^{_glob(c)}$" if isinstance(c, str) else c for c in raw[2]]
        return [_WILDCARD_OPS[op], raw[1], pats, *raw[3:]]
    return [_wildcards(r) for r in raw]


def change(metric: str, current: Any, previous: Any) -> Any:
    """Plausible's `change` of a comparison: points for bounce rate (none
    without a previous rate) and conversion rate, else a whole percent, 100
    from nothing to something. Our engagement rate changes in points too,
    as the other rate of visits does."""
    if not isinstance(current, (int, float)) or not isinstance(previous, (int, float)):
        return None
    if metric == "bounce_rate":
        return current - previous if previous > 0 else None
    if metric == "engagement_rate":
        return current - previous
    if metric == "conversion_rate":
        return _half_up(current - previous, 1)
    if previous == 0:
        return 100 if current > 0 else 0
    return int(_half_up((current - previous) / previous * 100, 0))


def group_conversion_rate(converted: int, visitors: int | None) -> float:
    """conversion_rate of a v1 breakdown row by anything but a goal or a
    custom property: Plausible's group conversion rate, to one decimal
    (66.7; its aggregates and goal rows have two)."""
    return _half_up(100 * converted / visitors, 1) if visitors else 0


def _half_up(x: float, digits: int) -> float:
    """Rounded as Elixir's round/2: halves away from zero (Python's round
    takes halves to even, 2.5 to 2, where Plausible says 3)."""
    step = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(x)).quantize(step, rounding=ROUND_HALF_UP))
