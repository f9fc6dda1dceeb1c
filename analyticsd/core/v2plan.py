"""Stats API v2 → the engines' v1 `Query` (pure).

Filters that v1 can express stay flat, so the rollup engine can answer them
over any range; anything else travels as a filter tree (`Query.where`) and
several dimensions as `Query.dims`, which send the query to the per-event
engine. Also the extra questions some v2 metrics need: the entry-page split
of page bounce rates (`entry_split`) and conversion-rate bases.
"""

from __future__ import annotations

from dataclasses import replace

from analyticsd.core.query import Filter, Query, Range
from analyticsd.core.v2filters import Branch, Expr, Leaf, leaves, retarget, without_goals
from analyticsd.core.v2query import MAX_LIMIT, V2Query

# Engine metric each v2 metric is computed from.
_ENGINE = {
    "percentage": "visitors",
    "total_revenue": "revenue",
    "group_conversion_rate": "visitors",
}


def engine_metrics(metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_ENGINE.get(m, m) for m in metrics))


def _flat(where: Expr | None) -> tuple[Filter, ...] | None:
    """The v1 filters equal to `where`, or None if v1 cannot say it."""
    if where is None:
        return ()
    items = where.children if isinstance(where, Branch) and where.op == "all" else (where,)
    out: list[Filter] = []
    for leaf in items:
        if not isinstance(leaf, Leaf) or leaf.kind != "is" or not leaf.case_sensitive:
            return None
        if any("*" in v for v in leaf.values):  # v1 reads * as a wildcard
            return None
        out.append(Filter(leaf.dim, leaf.negated, leaf.values))
    if len({f.prop for f in out}) != len(out):
        return None
    return tuple(sorted(out))


def engine_query(
    q: V2Query, r: Range, unit_interval: str, goal_free: bool = False, by_group: bool = False
) -> Query:
    """The v1 Query the engines run for `q` over the resolved range `r`.

    `goal_free`: the visitors without goal filters or dimensions, the base of
    a conversion rate: of everything, or (`by_group`) of each group of the
    other dimensions (group conversion rate)."""
    where = without_goals(q.where) if goal_free else q.where
    props = q.props
    if goal_free:
        props = tuple(p for p in props if p != "event:goal") if by_group else ()
    flat = _flat(where)
    return Query(
        site=q.site,
        tz=q.tz,
        range=r,
        metrics=("visitors",) if goal_free else engine_metrics(q.metrics),
        filters=flat or (),
        prop=props[0] if len(props) == 1 else "",
        interval=unit_interval,
        limit=MAX_LIMIT,
        period="custom",
        where=None if flat is not None else where,
        dims=props if len(props) > 1 else (),
    )


def entry_split(q: V2Query) -> V2Query | None:
    """The query for the session metrics Plausible answers by entry page.

    Plausible reads an `event:page` filter as an entry-page filter for the
    bounce rate, and breaks bounce rate and visit duration down by page via
    the visits that entered on it (QueryOptimizer's session split). The
    query returned asks exactly those metrics, pages as entry pages."""
    page_dim = "event:page" in q.dimensions
    page_filter = any(leaf.dim == "event:page" for leaf, _ in leaves(q.where))
    wanted = ("bounce_rate", "visit_duration") if page_dim else ("bounce_rate",)
    metrics = tuple(m for m in q.metrics if m in wanted)
    if not metrics or not (page_dim or page_filter):
        return None
    return replace(
        q,
        metrics=metrics,
        dimensions=tuple("visit:entry_page" if d == "event:page" else d for d in q.dimensions),
        where=retarget(q.where, "event:page", "visit:entry_page"),
        order_by=(),
    )


def time_interval(q: V2Query, r: Range) -> str:
    """The v1 interval name of the time dimension ("" without one)."""
    t = q.time_dim
    if not t:
        return ""
    if t == "time":  # Plausible's choice: hours up to 48 h, days up to 40
        if r.days <= 2:
            return "hour"
        return "month" if r.days > 40 else "date"
    return {"time:day": "date"}.get(t, t.removeprefix("time:"))
