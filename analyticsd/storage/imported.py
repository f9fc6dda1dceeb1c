"""Imported rollups (Plausible's export) in the stats database, and how queries read them.

Invariants:
* Imported rows live in their own tables, one per file of the export
  (core.plausible_export.TABLES), never in `agg`: the live rows are the
  aggregator's, flushed exactly once, and an import must not touch them.
* `imports` records each import's site and days. An import replaces every
  imported row of its site within its days (storage.plausible_import), so
  importing the same export twice, or an overlapping one, counts once.
* Readers find the tables missing on a database no import has touched yet:
  that is "no imported data", not an error.
* The daemon's answer cache is keyed by the stamp file (`stamp_of`), which
  an import renews before and after its commit.

Counters are Plausible's: `visit_duration` in seconds, summed per row.
"""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from analyticsd.core.answers import Acc, Grouped
from analyticsd.core.imported_plan import GOALS, PROP_TABLE, Goal, ImportPlan, plan_imported
from analyticsd.core.plan import day_bucket
from analyticsd.core.plausible_export import TABLES
from analyticsd.core.query import Filter, Query, glob_regex
from analyticsd.core.v2answer import GROUP_SEP
from analyticsd.core.v2filters import Branch, Expr, Leaf, Not

if TYPE_CHECKING:  # the engine runs the statements (its time limit, its errors)
    from analyticsd.storage.queries import QueryEngine

STAMP = "imports.stamp"
_IMPORTS = (
    "CREATE TABLE IF NOT EXISTS imports (id INTEGER PRIMARY KEY, site TEXT NOT NULL, "
    "first_day INTEGER NOT NULL, last_day INTEGER NOT NULL, imported_ms INTEGER NOT NULL, "
    "source TEXT NOT NULL, rows INTEGER NOT NULL);"
)


def schema(prefix: str = "") -> str:
    """The imported tables, or with a prefix (`temp.stage_`) the staging ones:
    names of their own, as an unqualified name would find a temp table first."""
    out = [] if prefix else [_IMPORTS]
    for t in TABLES.values():
        cols = ", ".join(
            [f"{c} TEXT NOT NULL" for c in (*t.texts, *t.derived)]
            + [f"{c} INTEGER NOT NULL" for c in t.counts]
        )
        out.append(
            f"CREATE TABLE IF NOT EXISTS {prefix}{t.name} "
            f"(site TEXT NOT NULL, day INTEGER NOT NULL, {cols});"
        )
        if not prefix:
            out.append(f"CREATE INDEX IF NOT EXISTS {t.name}_site_day ON {t.name}(site, day);")
    return "\n".join(out)


def stamp(data_dir: str) -> None:
    """Renew the stamp: a new file each time (a new inode), so two imports
    within one clock tick still differ."""
    path = os.path.join(data_dir, STAMP)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("analyticsd imports\n")
    os.replace(tmp, path)


def stamp_of(data_dir: str) -> tuple[int, int]:
    """(mtime, inode) of the stamp; (0, 0) before the first import."""
    try:
        st = os.stat(os.path.join(data_dir, STAMP))
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_ino)


def import_ranges(conn: sqlite3.Connection, site: str) -> list[tuple[int, int]]:
    try:
        rows = conn.execute(
            "SELECT first_day, last_day FROM imports WHERE site = ? ORDER BY first_day", (site,)
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    return [(int(a), int(b)) for a, b in rows]


_RATES = frozenset({"bounce_rate", "visit_duration", "views_per_visit"})


def _metric_sql(table: str, metrics: tuple[str, ...]) -> list[str]:
    """visitors, visits, pageviews, events, bounces, duration (s) of a table's
    rows, as Plausible's Imported.SQL.Expression reads them."""
    if table == "imported_custom_events":
        return ["visitors", "0", "0", "events", "0", "0"]
    if table == "imported_pages":
        # Pages have no bounces or durations: Plausible counts their visits
        # in the visits metric but not in the rates' denominators, and we
        # keep one visits counter, so they go in only without a rate.
        visits = "0" if _RATES & set(metrics) else "visits"
        return ["visitors", visits, "pageviews", "pageviews", "0", "0"]
    visits = {"imported_entry_pages": "entrances", "imported_exit_pages": "exits"}.get(
        table, "visits"
    )
    return ["visitors", visits, "pageviews", "pageviews", "bounces", "visit_duration"]


def _key_sql(prop: str) -> str:
    column = PROP_TABLE[prop][1]
    if prop == "visit:browser_version":
        return "CASE WHEN browser_version != '' THEN browser || char(31) || browser_version END"
    if prop == "visit:os_version":
        return (
            "CASE WHEN operating_system_version != '' THEN "
            "operating_system || char(31) || operating_system_version END"
        )
    return column


def _filter_sql(f: Filter) -> tuple[str, list[object]]:
    column = PROP_TABLE[f.prop][1]
    parts: list[str] = []
    params: list[object] = []
    for v in f.values:
        if "*" in v:
            parts.append(f"regexp(?, {column})")
            params.append(glob_regex(v).pattern)
        else:
            parts.append(f"{column} = ?")
            params.append(v)
    cond = "(" + " OR ".join(parts) + ")"
    return (f"NOT {cond}" if f.negate else cond), params


def _leaf_sql(leaf: Leaf) -> tuple[str, list[object]]:
    """A v2 filter test on the imported column of its property (the same
    tests as storage.treesql's on per-event rows)."""
    column = PROP_TABLE[leaf.dim][1]
    lower = not leaf.case_sensitive
    target = f"lower({column})" if lower else column
    parts: list[str] = []
    params: list[object] = []
    for v in leaf.values:
        if leaf.kind == "matches":
            parts.append(f"regexp(?, {column})")
            params.append(f"(?i){v}" if lower else v)
            continue
        parts.append(f"{target} = ?" if leaf.kind == "is" else f"instr({target}, ?) > 0")
        params.append(v.lower() if lower else v)
    cond = "(" + " OR ".join(parts) + ")"
    return (f"NOT coalesce({cond}, 0)" if leaf.negated else cond), params


def tree_sql(e: Expr) -> tuple[str, list[object]]:
    if isinstance(e, Leaf):
        return _leaf_sql(e)
    if isinstance(e, Not):
        sql, params = tree_sql(e.child)
        return f"NOT coalesce({sql}, 0)", params
    assert isinstance(e, Branch)
    parts = [tree_sql(c) for c in e.children]
    joiner = " OR " if e.op == "or" else " AND "
    return "(" + joiner.join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]


class ImportedReader:
    """Adds a site's imported counters to a question's live ones (blocking;
    runs on the query's own engine, in its worker thread)."""

    def __init__(self, engine: QueryEngine, goals: tuple[Goal, ...]) -> None:
        self.engine = engine
        self.goals = goals
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self.first_plan: ImportPlan | None = None

    def ranges(self, site: str) -> list[tuple[int, int]]:
        if site not in self._ranges:
            self._ranges[site] = import_ranges(self.engine.conn, site)
        return self._ranges[site]

    def plan(self, q: Query, custom: frozenset[str]) -> ImportPlan:
        plan = plan_imported(q, self.ranges(q.site), self.goals, custom)
        if self.first_plan is None:
            self.first_plan = plan  # the question's own (later ones: its bases)
        return plan

    def add(self, q: Query, unit: str, out: Grouped, plan: ImportPlan) -> None:
        """Add what `plan` (of `q`, see `plan`) says imports give."""
        if plan.reason is not None:
            return
        if plan.table == GOALS:
            self._goals(q, unit, plan.goals, out)
            return
        metrics = _metric_sql(plan.table, q.metrics)
        where = ["site = ?", "day >= ?", "day <= ?"]
        params: list[object] = [q.site, q.range.first, q.range.last]
        for f in q.filters:
            cond, p = _filter_sql(f)
            where.append(cond)
            params += p
        if q.where is not None:
            cond, p = tree_sql(q.where)
            where.append(cond)
            params += p
        props = [q.prop] if q.prop else list(q.dims)
        if props:
            keys = [_key_sql(p) for p in props]
            key = " || char(30) || ".join(f"coalesce({k}, '')" for k in keys)
            where += [f"coalesce({k}, '') != ''" for k in keys]
            where.append("visitors > 0")
        else:
            key = "''"
        if plan.table != "imported_custom_events" and {"pageviews", "views_per_visit"} & set(
            q.metrics
        ):
            where.append("pageviews > 0")
        by_day = unit != "none"
        sql = (
            f"SELECT {key}, {'day' if by_day else '0'}, "
            + ", ".join(f"sum({m})" for m in metrics)
            + f" FROM {plan.table} WHERE {' AND '.join(where)} GROUP BY 1, 2"
        )
        assert GROUP_SEP == "\x1e"  # char(30) above
        for g, day, *v in self.engine._rows(sql, params):
            self._add(out, str(g), day_bucket(unit, int(day)) if by_day else 0, v)

    @staticmethod
    def _add(out: Grouped, key: str, bucket: int, v: list[int]) -> None:
        acc = out.get((key, bucket))
        if acc is None:
            acc = out[(key, bucket)] = Acc()
        acc.visitors += v[0]
        acc.visits += v[1]
        acc.pageviews += v[2]
        acc.events += v[3]
        acc.bounces += v[4]
        acc.duration_ms += v[5] * 1000

    def _goals(self, q: Query, unit: str, goals: tuple[Goal, ...], out: Grouped) -> None:
        """Event goals from the custom events, page goals from the pages
        (visitors and their events or page views, as Plausible's goal rows)."""
        by_goal = q.prop == "event:goal"
        by_day = unit != "none"
        day = "day" if by_day else "0"
        base = "site = ? AND day >= ? AND day <= ? AND visitors > 0"
        params: list[object] = [q.site, q.range.first, q.range.last]
        for g in goals:
            if g.event:
                sql = (
                    f"SELECT {day}, sum(visitors), sum(events) FROM imported_custom_events "
                    f"WHERE {base} AND name = ? GROUP BY 1"
                )
                args = [*params, g.event]
            else:
                sql = (
                    f"SELECT {day}, sum(visitors), sum(pageviews) FROM imported_pages "
                    f"WHERE {base} AND regexp(?, page) GROUP BY 1"
                )
                args = [*params, glob_regex(g.page).pattern]
            for d, visitors, events in self.engine._rows(sql, args):
                bucket = day_bucket(unit, int(d)) if by_day else 0
                self._add(out, g.name if by_goal else "", bucket, [visitors, 0, 0, events, 0, 0])

    def first_day(self, site: str) -> int | None:
        ranges = self.ranges(site)
        return min(a for a, _ in ranges) if ranges else None
