"""Stats API v2 answers against the SQLite store (blocking; run in a worker thread).

A v2 query runs as the v1 `Query` it translates to (core.v2query), through
the same engine choice (storage.stats_answers.Reports): rollup rows when one
dimension and flat filters allow it, per-event rows otherwise. The shaping
of the answer is pure (core.v2answer).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from analyticsd.core.answers import Grouped
from analyticsd.core.imported_plan import WARNINGS
from analyticsd.core.plan import unit_of
from analyticsd.core.query import Query, Range, prop_of
from analyticsd.core.v2answer import all_range, answer, build_rows
from analyticsd.core.v2plan import engine_query, entry_split, time_interval
from analyticsd.core.v2query import V2Query

if TYPE_CHECKING:  # stats_answers hands its Reports in
    from analyticsd.storage.stats_answers import Reports


def _visitors_by_bucket(grouped: Grouped) -> dict[int, int]:
    out: dict[int, int] = {}
    for (key, bucket), acc in grouped.items():
        if key == "":
            out[bucket] = out.get(bucket, 0) + acc.visitors
    return out


def v2_answer(reports: Reports, q: V2Query, today: int) -> dict[str, Any]:
    r: Range = q.range if q.range is not None else all_range(_first_day(reports, q), today)
    interval = time_interval(q, r)
    unit = unit_of(interval)
    eq = engine_query(q, r, interval)
    grouped = reports.grouped(eq, unit)
    cr_base: dict[int, int] = {}
    pct_base: dict[int, int] = {}
    if "conversion_rate" in q.metrics:
        cr_base = _visitors_by_bucket(reports.grouped(engine_query(q, r, interval, True), unit))
    if "percentage" in q.metrics:
        pct_base = _visitors_by_bucket(reports.grouped(_undimensioned(eq), unit))
    buckets = {b for _, b in grouped} | set(cr_base) | set(pct_base)
    totals = {b: (cr_base.get(b, 0), pct_base.get(b, 0)) for b in buckets}
    group_base = None
    if "group_conversion_rate" in q.metrics:
        base_q = engine_query(q, r, interval, goal_free=True, by_group=True)
        group_base = {k: acc.visitors for k, acc in reports.grouped(base_q, unit).items()}
    props = [prop_of(name, "dimensions") for name in q.props]
    split = entry_split(q)
    entry = None
    if split is not None:
        entry = (reports.grouped(engine_query(split, r, interval), unit), split.metrics)
    rows = build_rows(q, r, interval, props, grouped, totals, entry, group_base)
    currencies = {c for acc in grouped.values() for c in acc.revenue}
    out = answer(q, r, interval, rows, currencies)
    if q.include.imports:
        out["meta"].update(imports_meta(reports.import_reason))
    return out


def imports_meta(reason: str | None) -> dict[str, Any]:
    """Plausible's `meta` for `include.imports`: whether they are in, and
    why not (with a warning for the reasons a client can act on)."""
    meta: dict[str, Any] = {"imports_included": reason is None}
    if reason is not None:
        meta["imports_skip_reason"] = reason
        if reason in WARNINGS:
            meta["imports_warning"] = WARNINGS[reason]
    return meta


def _first_day(reports: Reports, q: V2Query) -> int | None:
    """Date range "all" starts at the first live day, or the first imported
    one when imports are asked for (as Plausible's)."""
    days = [reports.engine.first_day(q.site)]
    if reports.imports is not None:
        days.append(reports.imports.first_day(q.site))
    known = [d for d in days if d is not None]
    return min(known) if known else None


def _undimensioned(eq: Query) -> Query:
    return replace(eq, prop="", dims=(), metrics=("visitors",))
