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

import contextlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from analyticsd.core.aggregate import DAY, PAGE, PROP, SEP, SITE
from analyticsd.core.answers import Acc, Grouped, columns_for
from analyticsd.core.buckets import day_range_ms, zone
from analyticsd.core.errors import QueryError, QueryTimeout, StatsStoreError
from analyticsd.core.plan import fold, rollup_buckets
from analyticsd.core.query import (
    VISIT_USERS,
    CustomMetric,
    Prop,
    Query,
    shown_value,
    stored_value,
)
from analyticsd.core.sessions import ENGAGED_MIN_MS, ENGAGED_MIN_PAGEVIEWS
from analyticsd.core.v2filters import leaves
from analyticsd.storage.columnstore import ColumnStore, ColumnStoreError
from analyticsd.storage.dialect import DUCKDB, SQLITE, Dialect
from analyticsd.storage.eventsql import (
    PERCENTILE,
    Percentile,
    builtin_sql,
    custom_sql,
    filter_sql,
    needs_visit,
)
from analyticsd.storage.localtime import bucket_sql, local_sql, offset_steps
from analyticsd.storage.statsdb import FILENAME, METRIC_COLUMNS, connect_readonly
from analyticsd.storage.treesql import groups_sql, regexp, tree_sql

log = logging.getLogger("analyticsd.queries")
T = TypeVar("T")

_DIM_COLUMN = re.compile(r"s\.d_[a-z_]+")  # a visit dimension's column (core.query)
# Metrics counted over visits (the visits a group's events belong to).
# Metrics the first statement of a per-event question counts: a breakdown
# of only these can be ranked there (`top`).
RANKED = frozenset({"visitors", "pageviews", "events"})
VISIT_METRICS = frozenset(
    {"visits", "bounce_rate", "visit_duration", "views_per_visit"}
    | {"engaged_visits", "engagement_rate"}
)


class QueryEngine:
    """Runs queries on one read connection (blocking; call from a thread).

    Per-event questions read the column store's copy of the per-event rows
    when there is one (`columns`), else SQLite's; the same SQL (storage.dialect)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        time_limit_s: float = 30.0,
        columns: ColumnStore | None = None,
    ) -> None:
        self.conn = conn
        self.time_limit_s = time_limit_s
        self._deadline = 0.0
        self.columns = columns
        self._cursor: Any = None  # this engine's own connection to the column store
        # The column store cursor per-event statements run on now (None: SQLite).
        self._duck: Any = None
        # SQLite calls this every N virtual machine steps; a non-zero answer
        # interrupts the statement. It bounds how long one question can hold
        # a read connection (a year of per-event rows with a big retention).
        conn.set_progress_handler(self._over_time, 10_000)
        # The v2 `matches` filter (storage.treesql).
        conn.create_function("regexp", 2, regexp, deterministic=True)
        # Percentile custom metrics: SQLite has no percentile of its own.
        # (Any: typeshed's aggregate protocol takes one argument, this two.)
        conn.create_aggregate(PERCENTILE, 2, cast(Any, Percentile))
        # visit:user (core.query.VISIT_USER): the temporary database is this
        # connection's own, writable also on a read-only connection.
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {VISIT_USERS} "
            "(session INTEGER PRIMARY KEY, user_id TEXT NOT NULL)"
        )

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        self.conn.close()

    def _over_time(self) -> int:
        return int(self._deadline > 0 and time.monotonic() > self._deadline)

    def start(self) -> None:
        """A new question: its time limit starts now."""
        self._deadline = time.monotonic() + self.time_limit_s

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        if self._duck is not None:
            with self._timed():
                rows: list[tuple[Any, ...]] = self._duck.execute(sql, params).fetchall()
                return rows
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._translate(e) from e

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        """A column store statement under the question's time limit (DuckDB
        has no progress handler: a timer interrupts it)."""
        import duckdb

        left = self._deadline - time.monotonic() if self._deadline else self.time_limit_s
        timer = threading.Timer(max(left, 0.001), self._duck.interrupt)
        timer.start()
        try:
            yield
        except duckdb.InterruptException as e:
            raise QueryTimeout(
                f"the question took longer than {self.time_limit_s:.0f} s; "
                "narrow the period or the filters"
            ) from e
        except (duckdb.OutOfMemoryException, duckdb.IOException) as e:
            # Memory or disk ran out (storage.column_memory_mb, a full disk):
            # SQLite's rows can still answer (per_event_answer).
            raise ColumnStoreError(f"the column store could not answer: {e}") from e
        except duckdb.Error as e:
            raise StatsStoreError(f"query failed: {e}") from e
        finally:
            timer.cancel()

    @contextlib.contextmanager
    def events(self) -> Iterator[Dialect]:
        """Per-event statements inside run on the column store, brought up
        to SQLite's last commit first, and the SQL dialect to write them in;
        on SQLite's rows when there is no column store or it cannot be
        brought up to date (a full disk, a damaged file: slower, not wrong)."""
        cursor = None
        if self.columns is not None:
            try:
                self.columns.sync(self.conn)
                if self._cursor is None:
                    self._cursor = self.columns.cursor()
                    self._cursor.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS {VISIT_USERS} "
                        "(session BIGINT PRIMARY KEY, user_id VARCHAR NOT NULL)"
                    )
                cursor = self._cursor
            except ColumnStoreError as e:
                log.warning("per-event question answered from SQLite: %s", e)
        if cursor is None:
            yield SQLITE
            return
        self._duck = cursor
        try:
            yield DUCKDB
        finally:
            self._duck = None

    def _translate(self, e: sqlite3.Error) -> StatsStoreError:
        if isinstance(e, sqlite3.OperationalError) and "interrupted" in str(e):
            return QueryTimeout(
                f"the question took longer than {self.time_limit_s:.0f} s; "
                "narrow the period or the filters"
            )
        return StatsStoreError(f"query failed: {e}")

    def _check_hours(self, q: Query) -> None:
        """Hour rows older than storage.hour_rollup_retention_days are pruned:
        an hourly series reaching before them would be partial."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'hour_rows_from_ms'", [])
        kept_from = int(rows[0][0]) if rows else 0
        if day_range_ms(q.range.first, q.tz)[0] < kept_from:
            oldest = datetime.fromtimestamp(kept_from / 1000, zone(q.tz))
            raise QueryError(
                "interval",
                "hourly points are kept for storage.hour_rollup_retention_days; the range "
                f"starts before the oldest kept ({oldest:%Y-%m-%d %H:%M}). "
                "Use interval=date, or a later range.",
            )

    def rollup(self, q: Query, prop: Prop | None, value: str | None, unit: str) -> Grouped:
        if unit == "hour":
            self._check_hours(q)
        dim = SITE if prop is None else prop.dim
        where = "dim = ?"
        params: list[object] = [dim]
        if value is not None:
            if prop is not None and prop.dim == PROP:
                where += " AND val = ?"
                params.append(f"{prop.prop_name}{SEP}{value}")
            elif prop is not None and prop.joined:
                where += " AND substr(val, instr(val, char(31)) + 1) = ?"
                params.append(stored_value(prop, value))
            elif prop is not None:
                where += " AND val = ?"
                params.append(stored_value(prop, value))
            else:
                where += " AND val = ?"
                params.append(value)
        elif prop is not None and prop.dim == PROP:
            where += " AND val >= ? AND val < ?"
            params += [f"{prop.prop_name}{SEP}", f"{prop.prop_name}\x20"]
        group_by_val = bool(q.prop)
        needed = columns_for(q.metrics)
        # Only the columns the metrics need are summed (a year's breakdown
        # adds up some 100,000 rows); the others read as 0.
        sums = ", ".join(f"sum({c})" if c in needed else "0" for c in METRIC_COLUMNS)
        sets = rollup_buckets(q.range, unit)
        strip = len(prop.prop_name) + 1 if prop is not None and prop.dim == PROP else 0
        out: Grouped = {}
        if unit == "none":
            # One statement over every granularity, grouped by value in SQL:
            # a breakdown's thousands of values come back once, not per set.
            parts, args = [], []
            for gran, bucket_list in sets:
                marks = ",".join("?" * len(bucket_list))
                parts.append(
                    f"SELECT val, {', '.join(METRIC_COLUMNS)} FROM agg WHERE site = ? "
                    f"AND gran = ? AND bucket IN ({marks}) AND {where}"
                )
                args += [q.site, gran, *bucket_list, *params]
            if not parts:
                return out
            select = "val" if group_by_val else "''"
            sql = f"SELECT {select}, count(*), {sums} FROM ({' UNION ALL '.join(parts)})"
            sql += " GROUP BY val" if group_by_val else ""
            for row in self._rows(sql, args):
                if row[1]:  # else no rows at all (a sum over nothing)
                    total = Acc()
                    total.add_vector(row[2:])
                    out[(shown_value(prop, row[0][strip:]) if group_by_val else "", 0)] = total
            return out
        for gran, bucket_list in sets:
            marks = ",".join("?" * len(bucket_list))
            keys = ["val", "bucket"] if group_by_val else ["bucket"]
            sql = (
                f"SELECT {', '.join(keys)}, {sums} FROM agg WHERE site = ? AND gran = ? "
                f"AND bucket IN ({marks}) AND {where} GROUP BY {', '.join(keys)}"
            )
            off = len(keys)
            for row in self._rows(sql, [q.site, gran, *bucket_list, *params]):
                val = shown_value(prop, row[0][strip:]) if group_by_val else ""
                key = (val, fold(gran, row[off - 1], unit))
                acc = out.get(key)
                if acc is None:
                    acc = out[key] = Acc()
                acc.add_vector(row[off:])
        return out

    def rollup_revenue(
        self, q: Query, prop: Prop | None, value: str | None, unit: str, into: Grouped
    ) -> None:
        dim = SITE if prop is None else prop.dim
        where = "dim = ?"
        params: list[object] = [dim]
        if value is not None:
            where += " AND val = ?"
            params.append(value)
        for gran, bucket_list in rollup_buckets(q.range, unit):
            marks = ",".join("?" * len(bucket_list))
            sql = (
                "SELECT val, bucket, currency, sum(amount_micros), sum(n) FROM revenue "
                f"WHERE site = ? AND gran = ? AND bucket IN ({marks}) AND {where} "
                "GROUP BY val, bucket, currency"
            )
            for val, b, cur, micros, n in self._rows(sql, [q.site, gran, *bucket_list, *params]):
                key = (val if q.prop else "", fold(gran, b, unit))
                into.setdefault(key, Acc()).add_revenue(cur, micros, n)

    def rollup_engagement(
        self, q: Query, by_page: bool, page: str | None, unit: str, into: Grouped
    ) -> None:
        """Engagement rows (PAGE) into `into`: per page for a breakdown, else
        one group (of the filtered page)."""
        where = "dim = ?"
        params: list[object] = [PAGE]
        if page is not None:
            where += " AND val = ?"
            params.append(page)
        for gran, bucket_list in rollup_buckets(q.range, unit):
            marks = ",".join("?" * len(bucket_list))
            sql = (
                "SELECT val, bucket, sum(engaged_ms), sum(scroll_sum), sum(scroll_n), "
                f"sum(visits) FROM engagement WHERE site = ? AND gran = ? "
                f"AND bucket IN ({marks}) AND {where} GROUP BY val, bucket"
            )
            for val, b, *vector in self._rows(sql, [q.site, gran, *bucket_list, *params]):
                key = (val if by_page else "", fold(gran, b, unit))
                into.setdefault(key, Acc()).add_engagement(*vector)

    # -- the raw engine --------------------------------------------------------

    def per_event(
        self,
        q: Query,
        unit: str,
        custom: dict[str, CustomMetric],
        horizon_ms: int,
        top: int | None = None,
    ) -> Grouped:
        """`top`: only the first `top` groups by q's first metric are needed
        (value order breaking ties, and not the empty group), if that
        metric and all the others are RANKED."""
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

        def answer(d: Dialect) -> Grouped:
            if not _uses_visit_user(q):
                return self._per_event(q, unit, custom, start_ms, end_ms, d, top)
            # One read transaction: the visits' users and the counts are of
            # the same events (a flush committed in between, or a sync of
            # the column store, would leave its new visits without their user).
            self._rows("BEGIN", [])
            try:
                self._fill_visit_users(q.site, start_ms, end_ms)
                return self._per_event(q, unit, custom, start_ms, end_ms, d, top)
            finally:
                # Nothing written but the temporary table.
                if self._duck is not None or self.conn.in_transaction:
                    self._rows("ROLLBACK", [])

        return self.per_event_answer(answer)

    def per_event_answer(self, answer: Callable[[Dialect], T]) -> T:
        """`answer(dialect)` on the column store (events()), or again on
        SQLite's rows when the column store ran out of memory or disk on
        the way: slower, not wrong, and no question fails for it."""
        with self.events() as d:
            if not d.duck:
                return answer(d)
            try:
                return answer(d)
            except ColumnStoreError as e:
                log.warning("per-event question answered from SQLite: %s", e)
        return answer(SQLITE)

    def _fill_visit_users(self, site: str, start_ms: int, end_ms: int) -> None:
        """The first user id (by time, then id) of each visit with events in
        the range, from all of the visit's events (also those outside it)."""
        self._rows(f"DELETE FROM temp.{VISIT_USERS}", [])
        lo, hi = self._rows(
            "SELECT min(v.start_ms), max(v.end_ms) FROM events e JOIN visits v ON v.id = e.session "
            "WHERE e.site = ? AND e.ts >= ? AND e.ts < ?",
            [site, start_ms, end_ms],
        )[0]
        if lo is None:
            return
        self._rows(
            f"INSERT INTO temp.{VISIT_USERS}(session, user_id) SELECT session, user_id FROM "
            "(SELECT x.session, x.user_id, row_number() OVER (PARTITION BY x.session "
            "ORDER BY x.ts, x.user_id) AS rn FROM events x WHERE x.site = ? AND x.ts >= ? "
            "AND x.ts <= ? AND coalesce(x.user_id, '') != '') WHERE rn = 1",
            [site, lo, hi],
        )

    def _per_event(
        self,
        q: Query,
        unit: str,
        custom: dict[str, CustomMetric],
        start_ms: int,
        end_ms: int,
        d: Dialect,
        top: int | None = None,
    ) -> Grouped:
        steps = offset_steps(q.tz, start_ms, end_ms)
        ev_bucket = bucket_sql(local_sql("e.ts", steps), unit, d)
        st_bucket = bucket_sql(local_sql("s.start_ms", steps), unit, d)
        ev_where, ev_params, vis_where, vis_params = filter_sql(q.filters, d)
        tree = ""
        if q.where is not None:  # a v2 filter tree
            tree, tree_params = tree_sql(q.where, d)
            ev_where += f" AND {tree}"
            ev_params += tree_params
        g_event, g_join = groups_sql(q, d)
        # Events are joined to their visits only when something reads them.
        visit_join = (
            f"JOIN {d.visits(g_event, g_join, vis_where, tree)} s ON s.id = e.session "
            if needs_visit(g_event, g_join, vis_where, tree)
            else ""
        )
        out: Grouped = {}

        def acc(g: object, b: int) -> Acc:
            key = ("" if g is None else str(g), int(b))
            a = out.get(key)
            if a is None:
                a = out[key] = Acc()
            return a

        base = (
            f"FROM events e {visit_join}"
            f"{g_join} WHERE e.site = ? AND e.ts >= ? AND e.ts < ?{ev_where}{vis_where}"
        )
        params = [q.site, start_ms, end_ms, *ev_params, *vis_params]
        needs = set(q.metrics)
        alone = custom.get(q.metrics[0]) if len(q.metrics) == 1 else None
        folded = custom_sql(alone, d) if alone is not None and alone.type != "ratio" else None
        if alone is not None and folded is not None and "EXISTS" not in folded[1]:
            # One custom metric alone: its groups and its value in one scan,
            # the metric's conditions as the aggregate's FILTER. Groups
            # without a matching event are listed with no value, as below.
            expr, where, wparams = folded
            for g, b, v in self._rows(
                f"SELECT {g_event}, {ev_bucket}, {expr} FILTER (WHERE true{where}) "
                f"{base} GROUP BY 1, 2",
                [*wparams, *params],
            ):
                a = acc(g, b)
                if v is not None and not (alone.type in ("count", "distinct") and v == 0):
                    a.custom[alone.name] = round(v, 4) if isinstance(v, float) else v
            return out
        if needs <= custom.keys():
            # Only custom metrics: the groups with events, without counting
            # distinct visitors per group (most of this statement's time).
            if (
                unit == "none"
                and not g_join
                and _DIM_COLUMN.fullmatch(g_event)
                and not needs_visit(vis_where, tree)
            ):
                # The values of a visit dimension: from the ids the events
                # carry, not a join of every event to its visit.
                keys = (
                    f"SELECT DISTINCT {g_event}, 0 FROM visit_dims s WHERE s.id IN "
                    f"(SELECT e.vd FROM events e WHERE e.site = ? AND e.ts >= ? AND e.ts < ?"
                    f"{ev_where})"
                )
                key_params = [q.site, start_ms, end_ms, *ev_params]
            else:
                keys = f"SELECT {g_event}, {ev_bucket} {base} GROUP BY 1, 2"
                key_params = params
            for g, b in self._rows(keys, key_params):
                acc(g, b)
        else:
            sql = (
                f"SELECT {g_event} AS grp, {ev_bucket} AS b, count(DISTINCT e.visitor), "
                "sum(e.name = 'pageview'), count(*), sum(e.goals IS NOT NULL) "
                f"{base} GROUP BY 1, 2"
            )
            if top is not None and unit == "none" and needs <= RANKED and q.metrics[0] in RANKED:
                # The page of a breakdown: ranked here, as the answer ranks.
                col = 3 + ("visitors", "pageviews", "events").index(q.metrics[0])
                sql = (
                    f"SELECT * FROM ({sql}) WHERE grp IS NOT NULL AND grp != '' "
                    f"ORDER BY {col} DESC, 1 LIMIT {int(top)}"
                )
            for g, b, visitors, pvs, evs, convs in self._rows(sql, params):
                a = acc(g, b)
                a.visitors, a.pageviews, a.events, a.conversions = visitors, pvs, evs, convs
        if needs & VISIT_METRICS:
            # Visits started in the range that match: one row per (group, visit).
            vis_base = (
                f"FROM {d.visits(g_event, g_join, ev_where, vis_where)} s "
                f"JOIN events e ON e.session = s.id {g_join} "
                f"WHERE s.site = ? AND s.start_ms >= ? AND s.start_ms < ?{ev_where}{vis_where}"
            )
            for g, b, visits, bounces, dur, engaged in self._rows(
                "SELECT g, b, count(*), sum(bounce), sum(dur), sum(dur >= ? OR pvs >= ? OR convs) "
                f"FROM (SELECT DISTINCT {g_event} AS g, s.id, {st_bucket} AS b, "
                "(s.pageviews = 1 AND s.conversions = 0) AS bounce, s.end_ms - s.start_ms AS dur, "
                f"s.pageviews AS pvs, s.conversions > 0 AS convs {vis_base}) GROUP BY g, b",
                [ENGAGED_MIN_MS, ENGAGED_MIN_PAGEVIEWS, *params[:3], *ev_params, *vis_params],
            ):
                a = acc(g, b)
                a.visits, a.bounces, a.duration_ms, a.engaged = visits, bounces, dur, engaged
        if needs & {"revenue", "average_revenue"}:
            for g, b, cur, micros, n in self._rows(
                f"SELECT {g_event}, {ev_bucket}, e.currency, sum(e.revenue_micros), "
                f"count(e.revenue_micros) {base} AND e.revenue_micros IS NOT NULL GROUP BY 1, 2, 3",
                params,
            ):
                acc(g, b).add_revenue(cur, micros, n)
        for name in q.metrics:
            if name in custom:
                self._custom(custom[name], custom, base, params, g_event, ev_bucket, acc, d)
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
        d: Dialect,
    ) -> None:
        if m.type == "ratio":
            parts: dict[tuple[str, int], list[float | None]] = {}
            for i, operand in enumerate((m.numerator, m.denominator)):
                values: dict[tuple[str, int], float | None] = {}
                if operand in custom:
                    expr, where, wparams = custom_sql(custom[operand], d)
                else:
                    expr, where, wparams = builtin_sql(operand)
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
        expr, where, wparams = custom_sql(m, d)
        for g, b, v in self._rows(
            f"SELECT {g_event}, {ev_bucket}, {expr} {base}{where} GROUP BY 1, 2",
            [*params, *wparams],
        ):
            acc(g, b).custom[m.name] = round(v, 4) if isinstance(v, float) else v

    def first_day(self, site: str) -> int | None:
        """The first local day a site has counts for (v2's date range "all")."""
        rows = self._rows("SELECT min(bucket) FROM agg WHERE site = ? AND gran = ?", [site, DAY])
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def realtime(self, site: str, now_ms: int, window_ms: int = 300_000) -> int:
        """Visitors with an event in the last 5 minutes, as Plausible counts
        them: from then on, so an event a client clock puts a little ahead
        (ingest takes up to 15 minutes) counts too."""
        row = self._rows(
            "SELECT count(DISTINCT visitor) FROM events WHERE site = ? AND ts >= ?",
            [site, now_ms - window_ms],
        )
        return int(row[0][0])

    def prop_keys(self, site: str, name: str, start_ms: int, end_ms: int) -> list[str]:
        """The custom property names the events called `name` carry in
        [start_ms, end_ms), with how many such events carry each, most first
        (the dashboard's props panel; per-event rows)."""
        rows = self._rows(
            "SELECT j.key, count(*) FROM events e, json_each(e.props) j "
            "WHERE e.site = ? AND e.ts >= ? AND e.ts < ? AND e.name = ? "
            "AND e.props IS NOT NULL AND e.props != '' GROUP BY j.key ORDER BY 2 DESC, 1 LIMIT 100",
            [site, start_ms, end_ms, name],
        )
        return [str(r[0]) for r in rows]

    def actor_events(
        self, site: str, start_ms: int, end_ms: int, by_user: bool
    ) -> Iterator[tuple[Any, ...]]:
        """(actor, ts, name, path, props json) per event, by actor then time.

        Streamed from the cursor: a month of a busy site is millions of rows,
        and funnels and cohorts need only one actor's events at a time."""
        actor = "e.user_id" if by_user else "e.visitor"
        cond = " AND e.user_id IS NOT NULL" if by_user else ""
        sql = (
            f"SELECT {actor}, e.ts, e.name, e.path, e.props FROM events e "
            f"WHERE e.site = ? AND e.ts >= ? AND e.ts < ?{cond} ORDER BY 1, e.ts, e.rowid"
        )
        return self.stream(sql, [site, start_ms, end_ms])

    def stream(self, sql: str, params: Sequence[object]) -> Iterator[tuple[Any, ...]]:
        """The rows of a statement, read from the cursor a batch at a time."""
        if self._duck is not None:
            with self._timed():
                cursor = self._duck.execute(sql, params)
                while batch := cursor.fetchmany(4096):
                    yield from batch
            return
        try:
            cursor = self.conn.execute(sql, params)
            while batch := cursor.fetchmany(4096):
                yield from batch
        except sqlite3.Error as e:
            raise self._translate(e) from e


def _uses_visit_user(q: Query) -> bool:
    names = {q.prop, *q.dims, *(f.prop for f in q.filters)}
    return "visit:user" in names or any(leaf.dim == "visit:user" for leaf, _ in leaves(q.where))


class EnginePool:
    """Read connections for queries, one per concurrent query (SQLite
    connections must not be shared by two threads at once)."""

    def __init__(self, data_dir: str, size: int, columns: ColumnStore | None = None) -> None:
        import os

        path = os.path.join(data_dir, FILENAME)
        self.columns = columns
        self.free = [QueryEngine(connect_readonly(path), columns=columns) for _ in range(size)]
        self.size = size

    def close(self) -> None:
        for engine in self.free:
            engine.close()
        self.free.clear()
        if self.columns is not None:
            self.columns.close()
