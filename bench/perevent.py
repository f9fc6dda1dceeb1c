"""Per-event questions side by side: this engine against DuckDB, same rows, same run.

The rows are the fixture's per-event rows with their visits' attributes
(what `analyticsd export --rows events` and the visits hold), copied into
one flat DuckDB table, in memory and in a file. Every question is then
timed in this process four ways: our engine as the daemon runs it
(per-event questions on the column store, storage.columnstore), our engine
on SQLite's rows (the column store off), and hand-written DuckDB SQL on the
flat table in memory and in a file (median of REPEAT rounds after one
warm-up, the four taking turns in each round; no HTTP on either side). All
answers are compared: a ratio means nothing if the engines answered
different questions. Ratios are ours against each DuckDB reference; the
file-backed one is usually the faster (its columns are compressed).

    python -m bench.perevent [--pageviews N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from analyticsd.core.aggregate import day_number
from analyticsd.core.buckets import day_range_ms, zone
from analyticsd.core.dimensions import EMPTY_LABELS
from analyticsd.core.funnel import FunnelDef, Step
from analyticsd.core.query import PROPS, CustomMetric, parse_query
from analyticsd.storage.actor_sql import reference_funnel, reference_retention
from analyticsd.storage.columnstore import FILENAME as COLUMNS_FILENAME
from analyticsd.storage.columnstore import ColumnStore
from analyticsd.storage.localtime import offset_steps
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports, StatsStoreView
from analyticsd.storage.statsdb import _DIM_COLUMNS, FILENAME, connect_readonly
from bench import stats_fixture

REPEAT = 7
SITE = stats_fixture.BIG
WINDOW_S = 3600
STEPS = (
    Step("home", page="/"),
    Step("pricing", page="/pricing"),
    Step("signup", event="Signup"),
)
CUSTOM = {
    "pro_signups": CustomMetric("pro_signups", "count", event="Signup", props=(("plan", "pro"),))
}

# (label, parameters, DuckDB WHERE): the WHERE tests the values the store
# holds (Plausible's: "Mobile", not the "mobile" our filters also accept).
BREAKDOWNS: list[tuple[str, dict[str, str], str]] = [
    (
        "pages of visit:source==Google",
        {"property": "event:page", "filters": "visit:source==Google"},
        "d_source = 'Google'",
    ),
    (
        "pages of Google|Bing visits",
        {"property": "event:page", "filters": "visit:source==Google|Bing"},
        "d_source IN ('Google', 'Bing')",
    ),
    (
        "pages of Google;mobile;DE (3 filters)",
        {
            "property": "event:page",
            "filters": "visit:source==Google;visit:device==mobile;visit:country==DE",
        },
        "d_source = 'Google' AND d_device = 'Mobile' AND d_country = 'DE'",
    ),
    (
        "pages of visit:device!=desktop",
        {"property": "event:page", "filters": "visit:device!=desktop"},
        "NOT coalesce(d_device = 'Desktop', false)",
    ),
    (
        "browsers of visits entering at /pricing",
        {"property": "visit:browser", "filters": "visit:entry_page==/pricing"},
        "entry = '/pricing'",
    ),
    (
        "countries of visits leaving at /about",
        {"property": "visit:country", "filters": "visit:exit_page==/about"},
        "exit = '/about'",
    ),
]


def _shown(prop: str) -> str:
    """A breakdown property's value as the API shows it, in DuckDB: a visit
    dimension's empty value is its row under Plausible's label ("(not set)")
    where it has one, else no row (NULL)."""
    if prop == "event:page":
        return "CASE WHEN name = 'pageview' THEN path END"
    p = PROPS[prop]
    col = p.column.removeprefix("s.")
    label = EMPTY_LABELS.get(p.dim)
    shown = "NULL" if label is None else "'" + label.replace("'", "''") + "'"
    return f"(CASE WHEN {col} = '' THEN {shown} ELSE {col} END)"


def _interleaved(runs: dict[str, Callable[[], object]], *engines: QueryEngine) -> dict[str, float]:
    """Median ms of each, after a warm-up, the engines taking turns in each
    of REPEAT rounds: a machine whose speed drifts (other work on it) then
    slows all of them alike instead of whichever ran in the slow moment."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEAT):
        for name, fn in runs.items():
            for e in engines:
                e.start()
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def _ms(fn: Callable[[], object]) -> tuple[float, object]:
    out = fn()
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def load_duckdb(data: Path, file: str = ":memory:") -> Any:
    """The site's per-event rows with their visit's attributes, one flat table."""
    import duckdb

    src = connect_readonly(str(data / FILENAME))
    cols = ", ".join(f"s.{c}" for c in _DIM_COLUMNS)
    rows = src.execute(
        "SELECT e.rowid, e.site, e.ts, e.session, e.visitor, e.name, e.path, e.props, e.goals, "
        "e.revenue_micros, e.currency, e.user_id, s.start_ms, s.end_ms, s.entry, s.exit, "
        f"s.pageviews, s.conversions, {cols} FROM events e JOIN sessions s ON s.id = e.session"
    ).fetchall()
    src.close()
    db = duckdb.connect(file)
    dims = ", ".join(f"{c} VARCHAR" for c in _DIM_COLUMNS)
    db.execute(
        "CREATE TABLE ev (rid BIGINT, site VARCHAR, ts BIGINT, session BIGINT, visitor BIGINT, "
        "name VARCHAR, path VARCHAR, props VARCHAR, goals VARCHAR, revenue_micros BIGINT, "
        "currency VARCHAR, user_id VARCHAR, start_ms BIGINT, end_ms BIGINT, entry VARCHAR, "
        f"exit VARCHAR, s_pageviews INTEGER, s_conversions INTEGER, {dims})"
    )
    # Through a CSV file: DuckDB's own reader loads it in a fraction of what
    # row-by-row inserts would take.
    import csv

    path = data / "rows.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    # An empty field is NULL (props, goals, currency, user_id) except in the
    # columns SQLite holds NOT NULL, whose "" is a value (shown "(not set)").
    types = ", ".join(f"'{c}': '{t}'" for c, t, *_ in db.execute("DESCRIBE ev").fetchall())
    not_null = ", ".join(f"'{c}'" for c in ("name", "path", "entry", "exit", *_DIM_COLUMNS))
    db.execute(
        f"INSERT INTO ev SELECT * FROM read_csv('{path}', header=false, nullstr='', "
        f"columns={{{types}}}, force_not_null=[{not_null}])"
    )
    path.unlink()
    return db


def _duck_breakdown(db: Any, where: str, group: str, start: int, end: int) -> list[Any]:
    return list(
        db.execute(
            f"SELECT {group} AS g, count(DISTINCT visitor), sum((name = 'pageview')::INT) "
            f"FROM ev WHERE site = ? AND ts >= ? AND ts < ? AND {where} AND g IS NOT NULL "
            "GROUP BY g ORDER BY 2 DESC, 1 LIMIT 10",
            [SITE, start, end],
        ).fetchall()
    )


def _duck_custom(db: Any, start: int, end: int) -> list[Any]:
    return list(
        db.execute(
            f"SELECT {_shown('visit:country')} AS g, count(*) FROM ev "
            "WHERE site = ? AND ts >= ? AND ts < ? AND g IS NOT NULL "
            "AND name = 'Signup' AND json_extract_string(props, '$.plan') = 'pro' "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
            [SITE, start, end],
        ).fetchall()
    )


def _duck_funnel(db: Any, start: int, end: int, strict: bool) -> list[Any]:
    """Step counts of the funnel: each actor's furthest attempt."""
    mask = (
        "(CASE WHEN name = 'pageview' AND path = '/' THEN 1 ELSE 0 END) "
        "+ (CASE WHEN name = 'pageview' AND path = '/pricing' THEN 2 ELSE 0 END) "
        "+ (CASE WHEN name = 'Signup' THEN 4 ELSE 0 END)"
    )
    nxt = (
        "pos + 1 AS n2, pos + 1 AS n3"
        if strict
        else "min(CASE WHEN mask & 2 > 0 THEN pos END) OVER (PARTITION BY visitor ORDER BY pos "
        "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS n2, "
        "min(CASE WHEN mask & 4 > 0 THEN pos END) OVER (PARTITION BY visitor ORDER BY pos "
        "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS n3"
    )
    w = WINDOW_S * 1000
    return list(
        db.execute(
            f"WITH e AS (SELECT visitor, ts, {mask} AS mask, row_number() OVER "
            "(PARTITION BY visitor ORDER BY ts, rid) AS pos FROM ev "
            "WHERE site = ? AND ts >= ? AND ts < ?), "
            f"n AS (SELECT *, {nxt} FROM e), "
            "c AS (SELECT a.visitor, CASE WHEN b.visitor IS NULL THEN 1 "
            "WHEN d.visitor IS NULL THEN 2 ELSE 3 END AS reached "
            "FROM n a LEFT JOIN n b ON b.visitor = a.visitor AND b.pos = a.n2 "
            f"AND b.mask & 2 > 0 AND b.ts - a.ts <= {w} "
            "LEFT JOIN n d ON d.visitor = a.visitor AND d.pos = b.n3 "
            f"AND d.mask & 4 > 0 AND d.ts - a.ts <= {w} WHERE a.mask & 1 > 0), "
            "best AS (SELECT visitor, max(reached) AS r FROM c GROUP BY visitor) "
            "SELECT count(*), count(*) FILTER (r >= 2), count(*) FILTER (r >= 3) FROM best",
            [SITE, start, end],
        ).fetchall()
    )


def _duck_retention(db: Any, start: int, end: int, first: int, last: int, tz: str) -> list[Any]:
    steps = offset_steps(tz, start, end)
    cases = " ".join(f"WHEN ts < {b} THEN {o}" for (_, o), (b, _) in pairwise(steps))
    local = f"ts + CASE {cases} ELSE {steps[-1][1]} END" if cases else f"ts + {steps[0][1]}"
    return list(
        db.execute(
            f"WITH d AS (SELECT user_id AS u, ({local}) // 86400000 AS day FROM ev "
            "WHERE site = ? AND ts >= ? AND ts < ? AND user_id IS NOT NULL), "
            "p AS (SELECT DISTINCT u, (day + 3) // 7 AS w, day FROM d), "
            f"c AS (SELECT u, min(w) AS c FROM p WHERE day BETWEEN {first} AND {last} GROUP BY u) "
            "SELECT c.c, count(DISTINCT c.u), count(DISTINCT p.u) FILTER (p.w = c.c + 1), "
            "count(DISTINCT p.u) FILTER (p.w = c.c + 2) "
            "FROM c JOIN p ON p.u = c.u GROUP BY 1 ORDER BY 1",
            [SITE, start, end],
        ).fetchall()
    )


def run(tmp: Path, pageviews: int) -> dict[str, Any]:
    fixture, info = stats_fixture.ensure(pageviews)
    data = tmp / "perevent-data"
    shutil.copytree(fixture, data)
    tz = stats_fixture.TZ[SITE]
    now = datetime.now(UTC)
    today = day_number(now.astimezone(zone(tz)).strftime("%Y-%m-%d"))
    now_ms = int(now.timestamp() * 1000)
    horizon = now_ms - stats_fixture.RETENTION_DAYS * 86_400_000
    r = parse_query("aggregate", {"site_id": SITE, "period": "30d"}, tz, today, {}).range
    first, last = r.first, r.last
    start, end = day_range_ms(first, tz)[0], day_range_ms(last, tz)[1]
    columns = ColumnStore(str(data))
    engine = QueryEngine(connect_readonly(str(data / FILENAME)), columns=columns)
    rows_engine = QueryEngine(connect_readonly(str(data / FILENAME)))  # SQLite's rows
    store = StatsStoreView(engine)
    built = time.perf_counter()
    with engine.events():  # the column store built from SQLite, as on a first question
        pass
    built = time.perf_counter() - built
    duck = load_duckdb(data)
    duck_file = load_duckdb(data, str(tmp / "reference.duckdb"))
    out: dict[str, Any] = {
        "fixture": info,
        "column_store": {
            "build_s": round(built, 2),
            "bytes": (data / COLUMNS_FILENAME).stat().st_size,
            "sqlite_bytes": (data / FILENAME).stat().st_size,
        },
        "questions": {},
    }

    def record(
        label: str, ours: Callable[[QueryEngine], object], theirs: Callable[[Any], object]
    ) -> None:
        runs: dict[str, Callable[[], object]] = {
            "ours": lambda: ours(engine),
            "sqlite_rows": lambda: ours(rows_engine),
            "duckdb": lambda: theirs(duck),
            "duckdb_file": lambda: theirs(duck_file),
        }
        timed = _interleaved(runs, engine, rows_engine)
        answers = {name: fn() for name, fn in runs.items()}
        out["questions"][label] = {
            **{f"{k}_ms": round(v, 1) for k, v in timed.items()},
            "ratio": round(timed["ours"] / max(timed["duckdb"], 0.01), 2),
            "ratio_file": round(timed["ours"] / max(timed["duckdb_file"], 0.01), 2),
            "same_answer": all(_same(answers["ours"], a) for a in answers.values()),
        }
        print(f"  {label}: {out['questions'][label]}", file=sys.stderr)

    for label, params, where in BREAKDOWNS:
        args = {"site_id": SITE, "period": "30d", "metrics": "visitors,pageviews", "limit": "10"}
        q = parse_query("breakdown", {**args, **params}, tz, today, {})
        group = _shown(params["property"])

        def ours(e: QueryEngine, q: Any = q) -> object:
            return _rows_of(Reports(e, {}, horizon).breakdown(q))

        def theirs(db: Any, where: str = where, group: str = group) -> object:
            return _duck_breakdown(db, where, group, start, end)

        record(label, ours, theirs)
    q = parse_query(
        "breakdown",
        {
            "site_id": SITE,
            "period": "30d",
            "property": "visit:country",
            "metrics": "pro_signups",
            "limit": "10",
        },
        tz,
        today,
        CUSTOM,
    )
    record(
        "custom metric (pro signups) by country",
        lambda e: _custom_rows(Reports(e, CUSTOM, horizon).breakdown(q)),
        lambda db: _duck_custom(db, start, end),
    )
    for order in ("loose", "strict"):
        f = FunnelDef("f", STEPS, WINDOW_S, order)

        def ours_funnel(e: QueryEngine, f: FunnelDef = f) -> object:
            return _funnel_counts(StatsStoreView(e).funnel(SITE, start, end, False, f))

        def duck_funnel(db: Any, strict: bool = order == "strict") -> object:
            return _duck_funnel(db, start, end, strict)

        def python_funnel(f: FunnelDef = f) -> object:
            return reference_funnel(engine, SITE, start, end, False, f)

        record(f"3-step funnel, {order} order", ours_funnel, duck_funnel)
        # Today's implementation (every row through Python), for the record.
        ref_ms, ref = _ms(python_funnel)
        new = store.funnel(SITE, start, end, False, f)
        out["questions"][f"3-step funnel, {order} order"]["python_reference_ms"] = round(ref_ms, 1)
        out["questions"][f"3-step funnel, {order} order"]["equals_reference"] = new == ref
    ret_end = now_ms + 86_400_000
    record(
        "weekly retention (users)",
        lambda e: _retention_counts(
            StatsStoreView(e).retention(
                SITE, tz, start, ret_end, "week", 8, first, last, today, "", ""
            )
        ),
        lambda db: _duck_retention(db, start, ret_end, first, last, tz),
    )
    ref_ms, ref = _ms(
        lambda: reference_retention(engine, SITE, tz, start, ret_end, "week", 8, first, last, today)
    )
    new_ret = store.retention(SITE, tz, start, ret_end, "week", 8, first, last, today, "", "")
    out["questions"]["weekly retention (users)"]["python_reference_ms"] = round(ref_ms, 1)
    out["questions"]["weekly retention (users)"]["equals_reference"] = new_ret == ref
    engine.close()
    rows_engine.close()
    columns.close()
    duck.close()
    duck_file.close()
    return out


def _rows_of(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r.values())[:3] for r in answer["results"]]


def _custom_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["country"], r["pro_signups"]) for r in answer["results"] if r["pro_signups"]]


def _funnel_counts(answer: dict[str, Any]) -> list[tuple[int, ...]]:
    return [tuple(s["visitors"] for s in answer["steps"])]


def _retention_counts(result: tuple[Any, Any]) -> list[tuple[int, ...]]:
    matrix, _ = result
    return [(c, size, *(v or 0 for v in counts[1:3])) for c, size, counts in matrix]


def _same(a: object, b: object) -> bool:
    def norm(x: object) -> list[tuple[str, ...]]:
        return [tuple(str(v) for v in row) for row in x]  # type: ignore[attr-defined]

    return norm(a) == norm(b)


def report_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    c = r["column_store"]
    pv = int(r["fixture"].get("pageviews_all_sites", 0)) or 1
    rows = [
        (
            "  column store",
            f"built from SQLite in {c['build_s']:.2f} s; {c['bytes'] / 2**20:.1f} MiB "
            f"({c['bytes'] / pv:.1f} B/pv) beside SQLite's {c['sqlite_bytes'] / 2**20:.1f} MiB",
        )
    ]
    for label, q in r["questions"].items():
        text = (
            f"ours {q['ours_ms']:.1f} ms, DuckDB {q['duckdb_ms']:.1f} ms = {q['ratio']:.2f}x"
            f" (DuckDB file {q['duckdb_file_ms']:.1f} ms = {q['ratio_file']:.2f}x;"
            f" ours on SQLite rows {q['sqlite_rows_ms']:.1f} ms)"
            f"{'' if q['same_answer'] else '  (ANSWERS DIFFER)'}"
        )
        if "python_reference_ms" in q:
            text += f"; before (every row in Python) {q['python_reference_ms']:.1f} ms"
            text += "" if q["equals_reference"] else "  (DIFFERS FROM BEFORE)"
        rows.append((f"  {label}", text))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pageviews", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="analyticsd-perevent-"))
    try:
        r = run(tmp, args.pageviews)
        print(json.dumps(r, indent=2), file=sys.stderr)
        rows = report_rows(r)
        width = max(len(k) for k, _ in rows)
        print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
