"""Stats API v2 answers: engine counters → Plausible's answer shape (pure).

`{"results": [{"metrics": [...], "dimensions": [...]}], "meta": {...},
"query": {...}}`: one row per group of dimension values (one row, with no
dimensions), metrics in the requested order, rows ordered by `order_by`
and paged by `pagination`. `query` echoes the query as it was understood
(the resolved date range, the default order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from analyticsd.core.aggregate import SEP, day_label
from analyticsd.core.answers import Acc, Grouped, metric_values
from analyticsd.core.buckets import day_range_ms, zone
from analyticsd.core.plan import bucket_label, day_bucket, unit_of
from analyticsd.core.query import Prop, Range
from analyticsd.core.v2filters import to_json
from analyticsd.core.v2plan import engine_metrics
from analyticsd.core.v2query import TIME_DIMS, V2Query

GROUP_SEP = "\x1e"  # joins several dimensions' values in one group key (storage.treesql)
_CENT, _TENTH = Decimal("0.01"), Decimal("0.1")
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}


def money(revenue: Mapping[str, list[int]], average: bool) -> dict[str, Any] | None:
    """Plausible's revenue value; null unless exactly one currency was seen.

    The value keeps three decimals, cut (not rounded) as Plausible's
    Decimal(18, 3) amounts are; the texts are rounded to cents."""
    if len(revenue) != 1:
        return None
    ((currency, (micros, n)),) = revenue.items()
    if average and not n:
        return None
    exact = micros / n if average else micros
    value = math.floor(exact / 1000) / 1000
    symbol = _SYMBOLS.get(currency, currency + " ")
    return {
        "short": symbol + _short(Decimal(str(value))),
        "long": f"{symbol}{Decimal(str(value)).quantize(_CENT, ROUND_HALF_EVEN):,}",
        "value": value,
        "currency": currency,
    }


def _short(d: Decimal) -> str:
    """$67.1, $1.2K, $3.4M: one decimal, half to even as Plausible's formatter."""
    for limit, suffix in ((Decimal(1_000_000), "M"), (Decimal(1000), "K")):
        if abs(d) >= limit:
            return f"{(d / limit).quantize(_TENTH, ROUND_HALF_EVEN)}{suffix}"
    return str(d.quantize(_TENTH, ROUND_HALF_EVEN))


def _metric(
    name: str, values: dict[str, Any], acc: Acc, pct_base: int | None, goal_based: bool
) -> Any:
    if name == "percentage":
        return round(100 * acc.visitors / pct_base, 1) if pct_base else 0.0
    if name in ("total_revenue", "average_revenue"):
        # Revenue is the revenue of goals, as Plausible's: null without one.
        return money(acc.revenue, name == "average_revenue") if goal_based else None
    return values[name]


_WARNINGS = {
    "no_single_revenue_currency": "Revenue metrics are null as there are multiple currencies "
    "for the selected event:goals.",
    "no_revenue_goals_matching": "Revenue metrics are null as there are no matching revenue goals.",
}


def metric_warnings(q: V2Query, currencies: set[str]) -> dict[str, Any]:
    """Plausible's `meta.metric_warnings` for revenue metrics that come out null."""
    if not currencies or not q.goal_based:
        code = "no_revenue_goals_matching"
    elif len(currencies) > 1 and "event:goal" not in q.dimensions:
        code = "no_single_revenue_currency"
    else:
        return {}
    return {
        m: {"code": code, "warning": _WARNINGS[code]}
        for m in q.metrics
        if m in ("total_revenue", "average_revenue")
    }


def time_label(unit: str, bucket: int, r: Range) -> str:
    if unit == "day":
        return day_label(bucket)
    if unit == "week":  # the first week starts with the range, as Plausible's labels
        first = bucket * 7 - 3
        return day_label(max(first, r.first))
    return bucket_label(unit, bucket)


def time_labels(unit: str, r: Range) -> list[str]:
    if unit in ("minute", "hour"):
        per_day = 1440 if unit == "minute" else 24
        return [
            bucket_label(unit, n)
            for d in range(r.first, r.last + 1)
            for n in range(d * per_day, (d + 1) * per_day)
        ]
    buckets = dict.fromkeys(day_bucket(unit, d) for d in range(r.first, r.last + 1))
    return [time_label(unit, b, r) for b in buckets]


def _dim_values(key: str, props: list[Prop]) -> list[str] | None:
    """The shown values of a group key, or None if one of them is missing."""
    parts = key.split(GROUP_SEP) if len(props) > 1 else [key]
    if len(parts) != len(props) or not all(parts):
        return None
    return [
        p.partition(SEP)[2] if prop.joined and SEP in p else p
        for p, prop in zip(parts, props, strict=True)
    ]


def build_rows(
    q: V2Query,
    r: Range,
    interval: str,
    props: list[Prop],
    grouped: Grouped,
    totals: Mapping[int, tuple[int, int]],
    entry: tuple[Grouped, tuple[str, ...]] | None = None,
    group_base: Mapping[tuple[str, int], int] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the answer, unordered. `totals`: per time bucket, the visitors
    without goal filters (conversion rate) and without dimensions (percentage).
    `entry`: counters by entry page and the metrics taken from them
    (core.v2query.entry_split). `group_base`: visitors without goals per
    (group of the other dimensions, bucket), for group_conversion_rate."""
    unit = unit_of(interval)
    metrics = engine_metrics(q.metrics)
    rows = []
    if not props and not interval and not grouped:
        grouped = {("", 0): Acc()}  # an aggregate always has its one row
    for (key, bucket), acc in grouped.items():
        shown = _dim_values(key, props) if props else ([] if key == "" else None)
        if shown is None:
            continue
        cr_base, pct_base = totals.get(bucket, (0, 0))
        values = metric_values(acc, metrics, cr_base)
        if entry is not None:
            by_entry = entry[0].get((key, bucket), Acc())
            values.update(metric_values(by_entry, entry[1], None))
        time = time_label(unit, bucket, r) if interval else ""
        if group_base is not None:
            base = group_base.get((_other_dims_key(q, key), bucket), 0)
            values["group_conversion_rate"] = round(100 * acc.visitors / base, 2) if base else 0
        rows.append(
            {
                "metrics": [_metric(m, values, acc, pct_base, q.goal_based) for m in q.metrics],
                "dimensions": _order_dims(q, shown, time),
            }
        )
    return rows


def _other_dims_key(q: V2Query, key: str) -> str:
    """A group key without its goal part: the key of the group's base."""
    props = q.props
    if "event:goal" not in props:
        return key
    parts = key.split(GROUP_SEP) if len(props) > 1 else [key]
    return GROUP_SEP.join(p for p, name in zip(parts, props, strict=True) if name != "event:goal")


def _order_dims(q: V2Query, shown: list[str], time: str) -> list[str]:
    """Dimension values in the requested order (the time label in its place)."""
    out, it = [], iter(shown)
    for d in q.dimensions:
        out.append(time if d in TIME_DIMS else next(it))
    return out


def _sort_value(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("value", 0)
    return 0 if v is None else v


def order_rows(q: V2Query, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ordered by `order_by`, ties by the dimension values (stable sorts,
    last key first)."""
    out = sorted(rows, key=lambda row: row["dimensions"])
    for name, direction in reversed(q.order_by):
        if name in q.metrics:
            i = q.metrics.index(name)
            out.sort(key=lambda row: _sort_value(row["metrics"][i]), reverse=direction == "desc")
        else:
            j = q.dimensions.index(name)
            out.sort(key=lambda row: row["dimensions"][j], reverse=direction == "desc")
    return out


def _iso(ms: int, tz: str) -> str:
    t = datetime.fromtimestamp(ms / 1000, zone(tz))
    text = t.isoformat()
    return text.replace("+00:00", "Z") if tz in ("UTC", "Etc/UTC") else text


def answer(
    q: V2Query, r: Range, interval: str, rows: list[dict[str, Any]], currencies: set[str]
) -> dict[str, Any]:
    ordered = order_rows(q, rows)
    meta: dict[str, Any] = {}
    warnings = metric_warnings(q, currencies)
    if warnings:
        meta["metric_warnings"] = warnings
    if q.include.time_labels:
        meta["time_labels"] = time_labels(unit_of(interval), r)
    if q.include.total_rows:
        meta["total_rows"] = len(ordered)
    include = {k: True for k in ("imports", "time_labels", "total_rows") if getattr(q.include, k)}
    start_ms = day_range_ms(r.first, q.tz)[0]
    end_ms = day_range_ms(r.last, q.tz)[1] - 1000
    return {
        "results": ordered[q.offset : q.offset + q.limit],
        "meta": meta,
        "query": {
            "site_id": q.site,
            "metrics": list(q.metrics),
            "date_range": [_iso(start_ms, q.tz), _iso(end_ms, q.tz)],
            "filters": to_json(q.where),
            "dimensions": list(q.dimensions),
            "order_by": [list(o) for o in q.order_by],
            "include": include,
            "pagination": {"limit": q.limit, "offset": q.offset},
        },
    }


def all_range(first_day: int | None, today: int) -> Range:
    """`date_range: "all"`: from the first day with data to today."""
    first = today if first_day is None else min(first_day, today)
    return Range(first, today)
