"""Stats API queries against the SQLite store: two engines, one answer shape.

* The rollup engine reads the `agg`/`revenue` rows (hour, day and month
  buckets). It answers what one dimension's rows can: no filter or one
  `==` filter on the property broken down by, for the metrics that
  dimension's rows hold (see `rollup_dim`). It works for any range, back to
  the first day counted, and is what keeps a year's breakdown fast.
* The raw engine reads the per-event rows (`events` joined to their visits
  in `sessions`). It answers everything else (several filters, `!=`, `|`,
  wildcards, entry/exit visitors, visit metrics of pages, minute series,
  custom metrics), but only within `raw_event_retention_days`; older ranges
  get a QueryError naming the parameter, never a silently partial number.

Semantics shared by both: event counts (pageviews, events, visitors) go to
the bucket of the event's own time; visit counts (visits, bounces, duration)
to the bucket where the visit started. Visitor ids rotate with the site's
local day, so the visitors of a multi-day bucket are the sum of its days'
unique visitors: the same person on two days counts twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from analyticsd.core.aggregate import (
    DAY,
    GOAL,
    HOUR,
    MONTH,
    PAGE,
    PROP,
    SEP,
    SITE,
    day_label,
    month_first_day,
    month_of,
)
from analyticsd.core.buckets import zone
from analyticsd.core.errors import QueryError, QueryTimeout, StatsStoreError
from analyticsd.core.query import CustomMetric, Filter, Prop, Query, Range, prop_of
from analyticsd.storage.statsdb import FILENAME, METRIC_COLUMNS, connect_readonly, day_range_ms

# Metrics each kind of rollup row can give (see core.aggregate for what the
# rows count). Anything else goes to the raw engine.
_SITE_METRICS = frozenset(
    {"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
     "events", "revenue", "average_revenue"}
)  # fmt: skip
_VISIT_METRICS = _SITE_METRICS - {"revenue", "average_revenue"}
_ENTRY_METRICS = _VISIT_METRICS - {"visitors"}
_EVENT_METRICS = frozenset({"visitors", "pageviews", "events"})
_GOAL_METRICS = frozenset({"visitors", "events", "conversion_rate", "revenue", "average_revenue"})
_COLUMNS_OF = {
    "visitors": ("visitors",),
    "visits": ("visits",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "views_per_visit": ("pageviews", "visits"),
    "bounce_rate": ("bounces", "visits"),
    "visit_duration": ("duration_ms", "visits"),
    "conversion_rate": ("visitors",),
}


def _columns_for(metrics: Iterable[str]) -> frozenset[str]:
    return frozenset(c for m in metrics for c in _COLUMNS_OF.get(m, ()))


_MS_PER = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


@dataclass
class Acc:
    """Counters of one (group, bucket) before metrics are derived from them."""

    visitors: int = 0
    visits: int = 0
    pageviews: int = 0
    events: int = 0
    bounces: int = 0
    duration_ms: int = 0
    conversions: int = 0
    revenue: dict[str, list[int]] = field(default_factory=dict)  # currency → [micros, n]
    custom: dict[str, float | None] = field(default_factory=dict)

    def add_vector(self, v: Sequence[int]) -> None:
        # METRIC_COLUMNS order: visitors, visits, pageviews, events, bounces,
        # duration_ms, engaged, conversions
        self.visitors += v[0]
        self.visits += v[1]
        self.pageviews += v[2]
        self.events += v[3]
        self.bounces += v[4]
        self.duration_ms += v[5]
        self.conversions += v[7]

    def add_revenue(self, currency: str, micros: int, n: int) -> None:
        r = self.revenue.setdefault(currency, [0, 0])
        r[0] += micros
        r[1] += n


Grouped = dict[tuple[str, int], Acc]  # (group value, bucket) → counters


def _money(micros: float) -> float:
    return round(micros / 1_000_000, 2)


def metric_values(acc: Acc, metrics: Sequence[str], total_visitors: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    visits = acc.visits
    for m in metrics:
        if m == "visitors":
            out[m] = acc.visitors
        elif m == "visits":
            out[m] = visits
        elif m == "pageviews":
            out[m] = acc.pageviews
        elif m == "events":
            out[m] = acc.events
        elif m == "views_per_visit":
            out[m] = round(acc.pageviews / visits, 2) if visits else 0
        elif m == "bounce_rate":
            out[m] = round(100 * acc.bounces / visits) if visits else 0
        elif m == "visit_duration":
            out[m] = round(acc.duration_ms / visits / 1000) if visits else 0
        elif m == "conversion_rate":
            out[m] = round(100 * acc.visitors / total_visitors, 2) if total_visitors else 0
        elif m == "revenue":
            out[m] = {c: _money(v[0]) for c, v in sorted(acc.revenue.items())}
        elif m == "average_revenue":
            out[m] = {c: _money(v[0] / v[1]) for c, v in sorted(acc.revenue.items()) if v[1]}
        else:
            out[m] = acc.custom.get(m)
    return out


# -- local time ----------------------------------------------------------------


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


def bucket_sql(local: str, unit: str) -> str:
    """SQL for the bucket number of a local time (see core.aggregate)."""
    if unit == "none":
        return "0"
    if unit in _MS_PER:
        return f"({local} / {_MS_PER[unit]})"
    if unit == "week":
        return f"(({local} / 86400000 + 3) / 7)"
    # month: year * 12 + month - 1
    return (
        f"(CAST(strftime('%Y', {local} / 1000, 'unixepoch') AS INTEGER) * 12"
        f" + CAST(strftime('%m', {local} / 1000, 'unixepoch') AS INTEGER) - 1)"
    )


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


# -- the rollup engine ---------------------------------------------------------


def rollup_dim(q: Query, extra: Iterable[str] = ()) -> tuple[Prop | None, str | None] | None:
    """(property whose rows answer q, its filter value), or None for the raw engine."""
    if q.interval == "minute":
        return None
    if len(q.filters) > 1 or any(not f.simple for f in q.filters):
        return None
    f = q.filters[0] if q.filters else None
    name = q.prop or (f.prop if f else "")
    if f is not None and f.prop != name:
        return None
    metrics = set(q.metrics) | set(extra)
    if not name:
        return (None, None) if metrics <= _SITE_METRICS else None
    prop = prop_of(name, "property")
    if prop.dim < 0:
        return None
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


def _rollup_buckets(r: Range, unit: str) -> list[tuple[int, list[int]]]:
    """[(granularity, buckets)] covering the range: whole months from MONTH
    rows where the unit allows, other days from DAY rows, hours from HOUR."""
    if unit == "hour":
        return [(HOUR, [h for d in range(r.first, r.last + 1) for h in range(d * 24, d * 24 + 24)])]
    if unit in ("day", "week"):
        return [(DAY, list(range(r.first, r.last + 1)))]
    months, days = [], []
    d = r.first
    while d <= r.last:
        m = month_of(d)
        start, end = month_first_day(m), month_first_day(m + 1) - 1
        if d == start and end <= r.last:
            months.append(m)
            d = end + 1
        else:
            days.append(d)
            d += 1
    return [(g, b) for g, b in ((MONTH, months), (DAY, days)) if b]


class QueryEngine:
    """Runs queries on one read connection (blocking; call from a thread)."""

    def __init__(self, conn: sqlite3.Connection, time_limit_s: float = 30.0) -> None:
        self.conn = conn
        self.time_limit_s = time_limit_s
        self._deadline = 0.0
        # SQLite calls this every N virtual machine steps; a non-zero answer
        # interrupts the statement. It bounds how long one question can hold
        # a read connection (a year of per-event rows with a big retention).
        conn.set_progress_handler(self._over_time, 10_000)

    def _over_time(self) -> int:
        return int(self._deadline > 0 and time.monotonic() > self._deadline)

    def start(self) -> None:
        """A new question: its time limit starts now."""
        self._deadline = time.monotonic() + self.time_limit_s

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                raise QueryTimeout(
                    f"the question took longer than {self.time_limit_s:.0f} s; "
                    "narrow the period or the filters"
                ) from e
            raise StatsStoreError(f"query failed: {e}") from e
        except sqlite3.Error as e:
            raise StatsStoreError(f"query failed: {e}") from e

    def rollup(self, q: Query, prop: Prop | None, value: str | None, unit: str) -> Grouped:
        dim = SITE if prop is None else prop.dim
        where = "dim = ?"
        params: list[object] = [dim]
        if value is not None:
            if prop is not None and prop.dim == PROP:
                where += " AND val = ?"
                params.append(f"{prop.prop_name}{SEP}{value}")
            elif prop is not None and prop.joined:
                where += " AND substr(val, instr(val, char(31)) + 1) = ?"
                params.append(value)
            else:
                where += " AND val = ?"
                params.append(value)
        elif prop is not None and prop.dim == PROP:
            where += " AND val >= ? AND val < ?"
            params += [f"{prop.prop_name}{SEP}", f"{prop.prop_name}\x20"]
        group_by_val = bool(q.prop)
        needed = _columns_for(q.metrics)
        # Only the columns the metrics need are summed (a year's breakdown
        # adds up some 100,000 rows); the others read as 0.
        sums = ", ".join(f"sum({c})" if c in needed else "0" for c in METRIC_COLUMNS)
        out: Grouped = {}
        for gran, bucket_list in _rollup_buckets(q.range, unit):
            marks = ",".join("?" * len(bucket_list))
            keys = [k for k, on in (("val", group_by_val), ("bucket", unit != "none")) if on]
            select = ", ".join(keys) if keys else "''"
            sql = (
                f"SELECT {select}, {sums} FROM agg WHERE site = ? AND gran = ? "
                f"AND bucket IN ({marks}) AND {where}"
                + (f" GROUP BY {', '.join(keys)}" if keys else "")
            )
            off = max(len(keys), 1)
            strip = len(prop.prop_name) + 1 if prop is not None and prop.dim == PROP else 0
            for row in self._rows(sql, [q.site, gran, *bucket_list, *params]):
                if row[off] is None:
                    continue  # no rows at all (a sum over nothing)
                val = row[0][strip:] if group_by_val else ""
                b = row[len(keys) - 1] if unit != "none" else 0
                key = (val, self._fold(gran, b, unit))
                acc = out.get(key)
                if acc is None:
                    acc = out[key] = Acc()
                acc.add_vector(row[off:])
        return out

    @staticmethod
    def _fold(gran: int, bucket: int, unit: str) -> int:
        if unit in ("none", "hour"):
            return bucket if unit == "hour" else 0
        if gran == MONTH:
            return bucket if unit == "month" else 0
        return day_bucket(unit, bucket)

    def rollup_revenue(
        self, q: Query, prop: Prop | None, value: str | None, unit: str, into: Grouped
    ) -> None:
        dim = SITE if prop is None else prop.dim
        where = "dim = ?"
        params: list[object] = [dim]
        if value is not None:
            where += " AND val = ?"
            params.append(value)
        for gran, bucket_list in _rollup_buckets(q.range, unit):
            marks = ",".join("?" * len(bucket_list))
            sql = (
                "SELECT val, bucket, currency, sum(amount_micros), sum(n) FROM revenue "
                f"WHERE site = ? AND gran = ? AND bucket IN ({marks}) AND {where} "
                "GROUP BY val, bucket, currency"
            )
            for val, b, cur, micros, n in self._rows(sql, [q.site, gran, *bucket_list, *params]):
                key = (val if q.prop else "", self._fold(gran, b, unit))
                into.setdefault(key, Acc()).add_revenue(cur, micros, n)

    # -- the raw engine --------------------------------------------------------

    def raw(
        self,
        q: Query,
        unit: str,
        custom: dict[str, CustomMetric],
        horizon_ms: int,
    ) -> Grouped:
        start_ms = day_range_ms(q.range.first, q.tz)[0]
        end_ms = day_range_ms(q.range.last, q.tz)[1]
        if start_ms < horizon_ms:
            raise QueryError(
                "period",
                "this query needs per-event rows, which are kept for "
                "storage.raw_event_retention_days; the range starts before the oldest kept "
                f"({datetime.fromtimestamp(horizon_ms / 1000, zone(q.tz)):%Y-%m-%d %H:%M}). "
                "Shorten the period, or drop the filters/metrics that need per-event rows.",
            )
        steps = offset_steps(q.tz, start_ms, end_ms)
        ev_bucket = bucket_sql(local_sql("e.ts", steps), unit)
        st_bucket = bucket_sql(local_sql("s.start_ms", steps), unit)
        prop = prop_of(q.prop, "property") if q.prop else None
        ev_where, ev_params, vis_where, vis_params = _filter_sql(q.filters)
        g_event, g_join = _group_sql(prop)
        out: Grouped = {}

        def acc(g: object, b: int) -> Acc:
            key = ("" if g is None else str(g), int(b))
            a = out.get(key)
            if a is None:
                a = out[key] = Acc()
            return a

        base = (
            "FROM events e JOIN sessions s ON s.id = e.session "
            f"{g_join} WHERE e.site = ? AND e.ts >= ? AND e.ts < ?{ev_where}{vis_where}"
        )
        params = [q.site, start_ms, end_ms, *ev_params, *vis_params]
        needs = set(q.metrics)
        for g, b, visitors, pvs, evs, convs in self._rows(
            f"SELECT {g_event}, {ev_bucket} AS b, count(DISTINCT e.visitor), "
            "sum(e.name = 'pageview'), count(*), sum(e.goals IS NOT NULL) "
            f"{base} GROUP BY 1, 2",
            params,
        ):
            a = acc(g, b)
            a.visitors, a.pageviews, a.events, a.conversions = visitors, pvs, evs, convs
        if needs & {"visits", "bounce_rate", "visit_duration", "views_per_visit"}:
            # Visits started in the range that match: one row per (group, visit).
            vis_base = (
                f"FROM sessions s JOIN events e ON e.session = s.id {g_join} "
                f"WHERE s.site = ? AND s.start_ms >= ? AND s.start_ms < ?{ev_where}{vis_where}"
            )
            for g, b, visits, bounces, dur in self._rows(
                "SELECT g, b, count(*), sum(bounce), sum(dur) FROM ("
                f"SELECT DISTINCT {g_event} AS g, s.id, {st_bucket} AS b, "
                "(s.pageviews = 1 AND s.conversions = 0) AS bounce, s.end_ms - s.start_ms AS dur "
                f"{vis_base}) GROUP BY g, b",
                [q.site, start_ms, end_ms, *ev_params, *vis_params],
            ):
                a = acc(g, b)
                a.visits, a.bounces, a.duration_ms = visits, bounces, dur
        if needs & {"revenue", "average_revenue"}:
            for g, b, cur, micros, n in self._rows(
                f"SELECT {g_event}, {ev_bucket}, e.currency, sum(e.revenue_micros), "
                f"count(e.revenue_micros) {base} AND e.revenue_micros IS NOT NULL GROUP BY 1, 2, 3",
                params,
            ):
                acc(g, b).add_revenue(cur, micros, n)
        for name in q.metrics:
            if name in custom:
                self._custom(custom[name], custom, base, params, g_event, ev_bucket, acc)
        return out

    def _custom(
        self,
        m: CustomMetric,
        custom: dict[str, CustomMetric],
        base: str,
        params: list[object],
        g_event: str,
        ev_bucket: str,
        acc: Callable[[object, int], Acc],
    ) -> None:
        if m.type == "ratio":
            parts: dict[tuple[str, int], list[float | None]] = {}
            for i, operand in enumerate((m.numerator, m.denominator)):
                values: dict[tuple[str, int], float | None] = {}
                if operand in custom:
                    expr, where, wparams = _custom_sql(custom[operand])
                else:
                    expr, where, wparams = _builtin_sql(operand)
                for g, b, v in self._rows(
                    f"SELECT {g_event}, {ev_bucket}, {expr} {base}{where} GROUP BY 1, 2",
                    [*params, *wparams],
                ):
                    values[("" if g is None else str(g), int(b))] = v
                for k, v in values.items():
                    parts.setdefault(k, [None, None])[i] = v
            for (g, b), (num, den) in parts.items():
                acc(g, b).custom[m.name] = round(num / den, 4) if num and den else 0
            return
        expr, where, wparams = _custom_sql(m)
        for g, b, v in self._rows(
            f"SELECT {g_event}, {ev_bucket}, {expr} {base}{where} GROUP BY 1, 2",
            [*params, *wparams],
        ):
            acc(g, b).custom[m.name] = round(v, 4) if isinstance(v, float) else v

    def realtime(self, site: str, now_ms: int, window_ms: int = 300_000) -> int:
        row = self._rows(
            "SELECT count(DISTINCT visitor) FROM events WHERE site = ? AND ts >= ? AND ts <= ?",
            [site, now_ms - window_ms, now_ms + 60_000],
        )
        return int(row[0][0])

    def actor_events(
        self, site: str, start_ms: int, end_ms: int, by_user: bool
    ) -> list[tuple[Any, ...]]:
        """(actor, ts, name, path, props json) per event, by actor then time."""
        actor = "e.user_id" if by_user else "e.visitor"
        cond = " AND e.user_id IS NOT NULL" if by_user else ""
        return self._rows(
            f"SELECT {actor}, e.ts, e.name, e.path, e.props FROM events e "
            f"WHERE e.site = ? AND e.ts >= ? AND e.ts < ?{cond} ORDER BY 1, e.ts, e.rowid",
            [site, start_ms, end_ms],
        )


def _glob(value: str) -> str:
    """Our `*` wildcard as a SQLite GLOB pattern (other GLOB syntax literal)."""
    return "".join("[" + c + "]" if c in "[]?" else c for c in value)


def _prop_value_sql(name: str) -> tuple[str, list[object]]:
    path = f'$."{name}"'
    return (
        "(CASE json_type(e.props, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        "ELSE CAST(json_extract(e.props, ?) AS TEXT) END)",
        [path, path],
    )


def _match_sql(
    column: str, column_params: list[object], f: Filter, joined: bool
) -> tuple[str, list[object]]:
    col = f"substr({column}, instr({column}, char(31)) + 1)" if joined else column
    parts, params = [], []
    for v in f.values:
        if "*" in v:
            parts.append(f"{col} GLOB ?")
            params += [*column_params, _glob(v)]
        else:
            parts.append(f"{col} = ?")
            params += [*column_params, v]
    sql = "(" + " OR ".join(parts) + ")"
    if f.negate:
        sql = f"NOT coalesce({sql}, 0)"
    return sql, params


def _filter_sql(filters: Sequence[Filter]) -> tuple[str, list[object], str, list[object]]:
    ev, vis = "", ""
    ev_p: list[object] = []
    vis_p: list[object] = []
    for f in filters:
        prop = prop_of(f.prop, "filters")
        if prop.dim == GOAL:
            marks = ",".join("?" * len(f.values))
            ev += f" AND EXISTS (SELECT 1 FROM json_each(e.goals) WHERE value IN ({marks}))"
            ev_p += list(f.values)
        elif prop.dim == PROP:
            col, cp = _prop_value_sql(prop.prop_name)
            sql, p = _match_sql(col, cp, f, False)
            ev += f" AND {sql}"
            ev_p += p
        elif prop.dim == PAGE:
            sql, p = _match_sql("e.path", [], f, False)
            ev += f" AND e.name = 'pageview' AND {sql}"
            ev_p += p
        elif prop.kind == "name":
            sql, p = _match_sql("e.name", [], f, False)
            ev += f" AND {sql}"
            ev_p += p
        else:
            sql, p = _match_sql(prop.column, [], f, prop.joined)
            vis += f" AND {sql}"
            vis_p += p
    return ev, ev_p, vis, vis_p


def _group_sql(prop: Prop | None) -> tuple[str, str]:
    """(group expression, extra join) for a breakdown property."""
    if prop is None:
        return "''", ""
    if prop.dim == GOAL:
        return "gj.value", "JOIN json_each(e.goals) gj"
    if prop.dim == PROP:
        name = prop.prop_name.replace("'", "''")
        path = f"'$.\"{name}\"'"
        return (
            f"(CASE json_type(e.props, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract(e.props, {path}) AS TEXT) END)",
            "",
        )
    if prop.dim == PAGE:
        return "CASE WHEN e.name = 'pageview' THEN e.path END", ""
    return prop.column, ""


def _custom_sql(m: CustomMetric) -> tuple[str, str, list[object]]:
    """(aggregate expression, extra WHERE, params) of a custom metric's events."""
    where = ""
    params: list[object] = []
    if m.event:
        where += " AND e.name = ?"
        params.append(m.event)
    if m.page:
        where += " AND e.name = 'pageview' AND e.path GLOB ?"
        params.append(_glob(m.page))
    if m.goal:
        where += " AND EXISTS (SELECT 1 FROM json_each(e.goals) WHERE value = ?)"
        params.append(m.goal)
    for k, v in m.props:
        col, cp = _prop_value_sql(k)
        where += f" AND {col} = ?"
        params += [*cp, v]
    if m.type == "count":
        return "count(*)", where, params
    if m.type == "distinct":
        target = {
            "visitor": "e.visitor",
            "session": "e.session",
            "user": "e.user_id",
        }.get(m.of)
        if target is None:
            name = m.of[len("props.") :].replace("'", "''")
            target = f"json_extract(e.props, '$.\"{name}\"')"
        return f"count(DISTINCT {target})", where, params
    if m.field == "revenue":
        value = "e.revenue_micros / 1000000.0"
    else:
        name = m.field[len("props.") :].replace("'", "''")
        value = f"json_extract(e.props, '$.\"{name}\"')"
        where += f" AND json_type(e.props, '$.\"{name}\"') IN ('integer', 'real')"
    return ("sum" if m.type == "sum" else "avg") + f"({value})", where, params


def _builtin_sql(name: str) -> tuple[str, str, list[object]]:
    """Ratio operands that are built-in event counts."""
    no: list[object] = []
    return {
        "visitors": ("count(DISTINCT e.visitor)", "", no),
        "visits": ("count(DISTINCT e.session)", "", no),
        "pageviews": ("sum(e.name = 'pageview')", "", no),
        "events": ("count(*)", "", no),
    }[name]


class EnginePool:
    """Read connections for queries, one per concurrent query (SQLite
    connections must not be shared by two threads at once)."""

    def __init__(self, data_dir: str, size: int) -> None:
        import os

        path = os.path.join(data_dir, FILENAME)
        self.free = [QueryEngine(connect_readonly(path)) for _ in range(size)]
        self.size = size

    def close(self) -> None:
        for engine in self.free:
            engine.conn.close()
        self.free.clear()
