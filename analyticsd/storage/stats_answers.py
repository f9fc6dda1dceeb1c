"""Stats API answers: which engine runs a query, and the response shapes.

Blocking; the HTTP layer runs each call in a worker thread with a read
connection of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from analyticsd.core import v1_rules
from analyticsd.core.aggregate import PROP, SEP, day_label, month_first_day, month_of
from analyticsd.core.answers import Acc, Grouped, metric_values
from analyticsd.core.buckets import day_range_ms
from analyticsd.core.dimensions import NO_PROP, NOT_SET
from analyticsd.core.funnel import FunnelDef
from analyticsd.core.imported_plan import Goal
from analyticsd.core.plan import (
    bucket_label,
    day_bucket,
    engagement_page,
    rollup_dim,
    unit_of,
    without_engagement,
)
from analyticsd.core.query import (
    NULL_WHEN_EMPTY,
    CustomMetric,
    Filter,
    Query,
    Range,
    change,
    previous_range,
    prop_of,
    series_buckets,
)
from analyticsd.core.v2filters import leaves, retarget, without_goals
from analyticsd.core.v2query import V2Query
from analyticsd.storage import actor_sql
from analyticsd.storage.imported import ImportedReader
from analyticsd.storage.queries import RANKED, QueryEngine
from analyticsd.storage.v2_answers import v2_answer

# Percentages compare by the difference in points, not a percent of a percent.
_POINTS = frozenset({"bounce_rate", "engagement_rate", "conversion_rate"})
_REVENUE = ("revenue", "average_revenue")
_PROPS = "event:props:"
_NO_BLANK_ROW = frozenset(
    f"visit:utm_{k}" for k in ("source", "medium", "campaign", "content", "term")
)


def _group_rate(prop: str) -> bool:
    """Whether a v1 breakdown's conversion_rate is the group conversion rate
    (Plausible's, but by goal or custom property: those are of every visitor)."""
    return prop != "event:goal" and not prop.startswith(_PROPS)


class Reports:
    def __init__(
        self,
        engine: QueryEngine,
        custom: Mapping[str, CustomMetric],
        horizon_ms: int,
        imports: ImportedReader | None = None,
    ) -> None:
        self.engine = engine
        self.custom = dict(custom)
        self.horizon_ms = horizon_ms
        self.engines_used: list[str] = []  # for the response's `meta` and tests
        # Asked to include imported data (with_imported, include.imports):
        # every question below adds the imported counters it can.
        self.imports = imports

    @property
    def import_reason(self) -> str | None:
        """Why the question's imported data was left out (None: included, or
        not asked for)."""
        if self.imports is None or self.imports.first_plan is None:
            return None
        return self.imports.first_plan.reason

    # -- running a query -------------------------------------------------------

    def grouped(self, q: Query, unit: str, top: int | None = None) -> Grouped:
        """The counters of q's groups and buckets; `top`: a breakdown needs
        only its first `top` groups by its first metric (a hint: engines
        that cannot rank return them all)."""
        q, engagement = without_engagement(q)
        if not engagement:
            return self._grouped(q, unit, top)
        by_page, page = engagement_page(q)  # before any work: a QueryError if not per page
        out = self._grouped(q, unit)
        self.engine.rollup_engagement(q, by_page, page, unit, out)
        return out

    def _grouped(self, q: Query, unit: str, top: int | None = None) -> Grouped:
        imported = None if self.imports is None else self.imports.plan(q, frozenset(self.custom))
        plan = None if any(m in self.custom for m in q.metrics) else rollup_dim(q)
        if plan is not None and plan[0] is not None and unit == "hour":
            plan = None  # hour rows are the sites' totals only (core.batch.flat_rows)
        if plan is None:
            self.engines_used.append("events")
            live = q if imported is None or imported.reason else self._live_range(q)
            out = (
                {}
                if live is None
                else self.engine.per_event(
                    live, unit, self.custom, self.horizon_ms, top if imported is None else None
                )
            )
        else:
            self.engines_used.append("rollup")
            prop, value = plan
            out = self.engine.rollup(q, prop, value, unit)
            if any(m in q.metrics for m in _REVENUE):
                self.engine.rollup_revenue(q, prop, value, unit, out)
            if prop is not None and prop.dim == PROP and q.prop and value is None:
                self._no_prop_row(q, unit, out)
        if self.imports is not None and imported is not None:
            self.imports.add(q, unit, out, imported)
        return out

    def _live_range(self, q: Query) -> Query | None:
        """The part of q's range with live counts, for a question imports
        answer too (None: no live day in it). Imported history lies before
        the first live day, mostly beyond the per-event rows' retention:
        without imports such a range is an error, with them its live part is
        empty."""
        first_live = self.engine.first_day(q.site)
        if first_live is None or first_live > q.range.last:
            return None
        if first_live > q.range.first:
            return replace(q, range=Range(first_live, q.range.last))
        return q

    def _no_prop_row(self, q: Query, unit: str, into: Grouped) -> None:
        """Plausible's "(none)" row of a custom property breakdown: the events
        without the property. No rollup row holds them (a row per property
        an event lacks would be unbounded), and their unique visitors do not
        follow from the totals (visitors are not additive), so they are
        counted from the per-event rows. A range older than those rows are
        kept answers without the row rather than with a guess."""
        start_ms = day_range_ms(q.range.first, q.tz)[0]
        if start_ms < self.horizon_ms:
            return
        none_q = replace(q, filters=(Filter(q.prop, False, (NO_PROP,)),), prop="")
        self.engines_used.append("events")
        for (_, bucket), acc in self.engine.per_event(none_q, unit, {}, self.horizon_ms).items():
            if acc.events or acc.visits:
                into[(NO_PROP, bucket)] = acc

    def _totals(self, q: Query, unit: str, by_group: bool = False) -> Grouped | None:
        """Visitors without the goal filter: the base of conversion_rate
        (`by_group`: of each value of q's breakdown property)."""
        if "conversion_rate" not in q.metrics:
            return None
        base = replace(
            q,
            # Plausible's base: every visitor, but for the goal and the
            # properties of its events (those narrow the conversions only).
            filters=tuple(
                f for f in q.filters if f.prop != "event:goal" and not f.prop.startswith(_PROPS)
            ),
            where=without_goals(q.where),
            prop=q.prop if by_group else "",
            metrics=("visitors",),
        )
        return self.grouped(base, unit)

    def _entry_split(self, q: Query, unit: str) -> tuple[Grouped, tuple[str, ...]] | None:
        """Counters by entry page for the metrics Plausible answers that way.

        Plausible reads an event:page filter as an entry-page filter for the
        bounce rate, and gives bounce rate and visit duration of an event:page
        breakdown from the visits that entered on each page (as the v2 API
        does, core.v2plan.entry_split)."""
        by_page = q.prop == "event:page"
        page_filter = any(f.prop == "event:page" for f in q.filters) or any(
            leaf.dim == "event:page" for leaf, _ in leaves(q.where)
        )
        wanted = ("bounce_rate", "visit_duration") if by_page else ("bounce_rate",)
        metrics = tuple(m for m in q.metrics if m in wanted)
        if not metrics or not (by_page or page_filter):
            return None
        entry = "visit:entry_page"
        split = replace(
            q,
            metrics=metrics,
            prop=entry if by_page else q.prop,
            filters=tuple(
                sorted(replace(f, prop=entry) if f.prop == "event:page" else f for f in q.filters)
            ),
            where=retarget(q.where, "event:page", entry),
        )
        return self.grouped(split, unit), metrics

    @staticmethod
    def _entry_of(
        split: tuple[Grouped, tuple[str, ...]] | None, key: tuple[str, int]
    ) -> tuple[Acc, tuple[str, ...]] | None:
        return None if split is None else (split[0].get(key, Acc()), split[1])

    def _values(
        self,
        q: Query,
        acc: Acc | None,
        total: int | None,
        metrics: tuple[str, ...] | None = None,
        entry: tuple[Acc, tuple[str, ...]] | None = None,
    ) -> dict[str, Any]:
        """The metric values of one row; `entry`: its counters by entry page
        and the metrics taken from them (see _entry_split)."""
        metrics = metrics or q.metrics
        values = metric_values(acc or Acc(), metrics, total)
        for m in metrics:
            if (
                m in self.custom
                and values[m] is None
                and self.custom[m].type not in NULL_WHEN_EMPTY
            ):
                values[m] = 0  # nothing counted; an average (min, ...) of nothing stays null
        if entry is not None:
            by_entry = metric_values(entry[0], entry[1], None)
            values.update({m: v for m, v in by_entry.items() if m in values})
        return values

    def _with_change(
        self, cur: dict[str, Any], prev: dict[str, Any], plausible: bool = True
    ) -> dict[str, Any]:
        """Each metric with its comparison. `plausible`: Plausible's change
        (whole percents, 100 from nothing); else ours (one decimal, none from
        nothing), which the rollups' growth keeps."""
        out: dict[str, Any] = {}
        for m, v in cur.items():
            p = prev.get(m)
            if isinstance(v, dict) or isinstance(p, dict):
                ch: Any = {
                    c: change(v.get(c, 0), (p or {}).get(c, 0)) for c in sorted({*v, *(p or {})})
                }
            elif plausible:
                ch = v1_rules.change(m, v, p)
            else:
                ch = change(v, p, m in _POINTS)
            out[m] = {"value": v, "comparison_value": p, "change": ch}
        return out

    # -- endpoints -------------------------------------------------------------

    def aggregate(self, q: Query) -> dict[str, Any]:
        cur = self._aggregate_values(q)
        if not q.compare:
            return {"results": {m: {"value": v} for m, v in cur.items()}}
        prev_q = q.with_range(previous_range(q.range, q.period))
        prev = self._aggregate_values(prev_q)
        return {
            "results": self._with_change(cur, prev),
            "comparison_period": prev_q.range.label(),
        }

    def _aggregate_values(self, q: Query) -> dict[str, Any]:
        acc = self.grouped(q, "none").get(("", 0))
        totals = self._totals(q, "none")
        total = totals.get(("", 0), Acc()).visitors if totals is not None else None
        entry = self._entry_of(self._entry_split(q, "none"), ("", 0))
        return self._values(q, acc, total, entry=entry)

    def _points(self, q: Query) -> list[tuple[str, int]]:
        """(label, bucket number) of every point of a series, in order."""
        unit = unit_of(q.interval)
        if unit in ("minute", "hour"):
            per_day = 1440 if unit == "minute" else 24
            return [
                (bucket_label(unit, n), n)
                for d in range(q.range.first, q.range.last + 1)
                for n in range(d * per_day, (d + 1) * per_day)
            ]
        return [
            (label, day_bucket(unit, first))
            for label, first, _ in series_buckets(q.range, q.interval)
        ]

    def _series(self, q: Query) -> list[dict[str, Any]]:
        """One point per bucket. A bucket without visits has no visit
        duration (null, as Plausible's series), where an aggregate says 0."""
        unit = unit_of(q.interval)
        grouped = self.grouped(q, unit)
        totals = self._totals(q, unit)
        split = self._entry_split(q, unit)
        out = []
        for label, n in self._points(q):
            total = totals.get(("", n), Acc()).visitors if totals is not None else None
            acc = grouped.get(("", n))
            values = self._values(q, acc, total, entry=self._entry_of(split, ("", n)))
            if "visit_duration" in values and (acc is None or not acc.visits):
                values["visit_duration"] = None
            out.append({"date": label, **values})
        return out

    def timeseries(self, q: Query) -> dict[str, Any]:
        series = self._series(q)
        if not q.compare:
            return {"results": series}
        prev_q = q.with_range(previous_range(q.range, q.period))
        prev = self._series(prev_q)
        for i, point in enumerate(series):
            p = prev[i] if i < len(prev) else {}
            values = {m: point[m] for m in q.metrics}
            point["comparison"] = {"date": p.get("date"), **{m: p.get(m) for m in q.metrics}}
            point["change"] = {
                m: c["change"]
                for m, c in self._with_change(values, {m: p.get(m) for m in q.metrics}).items()
            }
        return {"results": series, "comparison_period": prev_q.range.label()}

    def _breakdown_accs(
        self, q: Query, top: int | None = None
    ) -> tuple[dict[str, Acc], Callable[[str], int | None], tuple[Grouped, tuple[str, ...]] | None]:
        """The rows, the base of a row's conversion_rate, the entry split.

        The base is Plausible's v1: every visitor for a breakdown by goal or
        custom property, else the row's own visitors without the goal filter
        (its group conversion rate: of the mobile visitors, those who
        converted)."""
        grouped = self.grouped(q, "none", top)
        by_group = _group_rate(q.prop)
        totals = self._totals(q, "none", by_group)

        def base(g: str) -> int | None:
            if totals is None:
                return None
            return totals.get((g if by_group else "", 0), Acc()).visitors

        # Plausible's v1 breakdown (and dashboard) by a UTM value leaves out
        # the visits without one: no "(not set)" row (v2 has one).
        blank = NOT_SET if q.prop in _NO_BLANK_ROW else ""
        accs = {g: acc for (g, _), acc in grouped.items() if g not in ("", blank)}
        return accs, base, self._entry_split(q, "none")

    def breakdown(self, q: Query) -> dict[str, Any]:
        prop = prop_of(q.prop, "property")
        # Ranked in the engine when its first statement has all there is to
        # rank and show: only the page's groups come back, not thousands.
        rankable = (
            not q.compare
            and q.metrics[0] in RANKED
            and set(q.metrics) <= RANKED
            and not prop.joined
            and q.prop not in _NO_BLANK_ROW
        )
        accs, base, split = self._breakdown_accs(q, q.page * q.limit if rankable else None)
        first = (q.metrics[0],)
        group = _group_rate(q.prop)

        def values_of(
            acc: Acc | None,
            total: int | None,
            entry: tuple[Acc, tuple[str, ...]] | None,
            metrics: tuple[str, ...] | None = None,
        ) -> dict[str, Any]:
            values = self._values(q, acc, total, metrics, entry)
            if group and "conversion_rate" in values:
                converted = acc.visitors if acc is not None else 0
                values["conversion_rate"] = v1_rules.group_conversion_rate(converted, total)
            return values

        def order(g: str) -> tuple[float, str]:
            # Only the first metric, for ranking: a breakdown can have
            # thousands of values and shows a page of them.
            entry = self._entry_of(split, (g, 0))
            v = values_of(accs[g], base(g), entry, first)[first[0]]
            if isinstance(v, dict):
                v = sum(v.values())
            return (-(v or 0), g)

        ranked = sorted(accs, key=order)
        start = (q.page - 1) * q.limit
        page = ranked[start : start + q.limit]
        prev: dict[str, dict[str, Any]] = {}
        prev_q = None
        if q.compare:
            prev_q = q.with_range(previous_range(q.range, q.period))
            prev_accs, prev_base, prev_split = self._breakdown_accs(prev_q)
            prev = {
                g: values_of(prev_accs[g], prev_base(g), self._entry_of(prev_split, (g, 0)))
                for g in page
                if g in prev_accs
            }
        results = []
        for g in page:
            values = values_of(accs[g], base(g), self._entry_of(split, (g, 0)))
            row: dict[str, Any] = {}
            if prop.joined and SEP in g:
                parent, _, shown = g.partition(SEP)
                row[prop.key] = shown
                row[prop.parent] = parent
            else:
                row[prop.key] = g
                if prop.joined and g == NOT_SET:  # no version: nor a browser / OS to name
                    row[prop.parent] = NOT_SET
            if q.compare:
                zero = self._values(q, None, None)
                row.update(self._with_change(values, prev.get(g, zero)))
            else:
                row.update(values)
            results.append(row)
        out: dict[str, Any] = {"results": results, "total_rows": len(ranked)}
        if prev_q is not None:
            out["comparison_period"] = prev_q.range.label()
        return out

    def rollups(self, q: Query, today: int) -> dict[str, Any]:
        """Whole weeks (from Monday) or months covering the range, each with
        its growth against the period before; the current one is marked
        incomplete."""
        first, last = _period_start(q.range.first, q.interval), q.range.last
        before = _period_start(first - 1, q.interval)
        series = self._series(q.with_range(Range(before, last)))
        buckets = series_buckets(Range(before, _period_end(last, q.interval)), q.interval)
        out = []
        for i in range(1, len(series)):
            _, start, end = buckets[i]
            days = end - start + 1
            values = {m: series[i][m] for m in q.metrics}
            previous = {m: series[i - 1][m] for m in q.metrics}
            out.append(
                {
                    "period": series[i]["date"],
                    "start": day_label(start),
                    "end": day_label(end),
                    "days": days,
                    "complete": end < today,
                    **values,
                    "daily_average": {
                        m: round(v / days, 2)
                        for m, v in values.items()
                        if isinstance(v, (int, float)) and m in _ADDITIVE
                    },
                    "growth": {
                        m: c["change"]
                        for m, c in self._with_change(values, previous, plausible=False).items()
                    },
                }
            )
        return {"results": out, "comparison_period": series[0]["date"]}


def _period_start(day: int, interval: str) -> int:
    if interval == "week":
        return day - (day + 3) % 7
    return month_first_day(month_of(day))


def _period_end(day: int, interval: str) -> int:
    if interval == "week":
        return _period_start(day, interval) + 6
    return month_first_day(month_of(day) + 1) - 1


_ADDITIVE = frozenset({"visitors", "visits", "pageviews", "events", "engaged_visits"})


class StatsStoreView:
    """A query engine as the Stats API reads it (http.stats_api.StatsStore)."""

    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine

    def realtime(self, site: str, now_ms: int) -> int:
        return self.engine.realtime(site, now_ms)

    def prop_keys(self, site: str, name: str, start_ms: int, end_ms: int) -> list[str]:
        return self.engine.prop_keys(site, name, start_ms, end_ms)

    def actor_events(
        self, site: str, start_ms: int, end_ms: int, by_user: bool
    ) -> Iterator[tuple[Any, ...]]:
        return self.engine.actor_events(site, start_ms, end_ms, by_user)

    def funnel(
        self, site: str, start_ms: int, end_ms: int, by_user: bool, f: FunnelDef
    ) -> dict[str, Any]:
        """core.funnel.funnel's answer, the step matching done in SQL."""
        return self.engine.per_event_answer(
            lambda d: actor_sql.funnel(self.engine.stream, site, start_ms, end_ms, by_user, f, d)
        )

    def retention(
        self,
        site: str,
        tz: str,
        start_ms: int,
        end_ms: int,
        period: str,
        periods: int,
        first_day: int,
        last_day: int,
        today: int,
        start_event: str = "",
        return_event: str = "",
    ) -> tuple[list[tuple[int, int, list[int | None]]], list[float | None]]:
        """core.funnel.retention's answer, one row per user and day from SQL."""
        return self.engine.per_event_answer(
            lambda _: actor_sql.retention(
                self.engine.stream,
                site,
                tz,
                start_ms,
                end_ms,
                period,
                periods,
                first_day,
                last_day,
                today,
                start_event,
                return_event,
            )
        )

    def answers(
        self,
        custom: Mapping[str, CustomMetric],
        horizon_ms: int,
        imports: tuple[Goal, ...] | None = None,
    ) -> Reports:
        """`imports`: include imported data, matching these goals (None: not)."""
        reader = None if imports is None else ImportedReader(self.engine, imports)
        return Reports(self.engine, custom, horizon_ms, reader)

    def v2(
        self,
        custom: Mapping[str, CustomMetric],
        horizon_ms: int,
        q: V2Query,
        today: int,
        goals: tuple[Goal, ...] = (),
    ) -> dict[str, Any]:
        """A Stats API v2 answer (storage.v2_answers)."""
        return v2_answer(
            self.answers(custom, horizon_ms, goals if q.include.imports else None), q, today
        )
