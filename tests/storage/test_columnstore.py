"""The column store's copy answers as SQLite's per-event rows do, and follows them.

Per-event questions read `events.duckdb` (storage.columnstore), a copy of
SQLite's per-event rows, visits and dimension combinations. These tests
compare its answers with the same engine on SQLite's rows, on generated
traffic and on hand-made rows, and check that the copy follows SQLite:
new rows and changed visits, a change in place, a prune, a damaged file,
and a copy that cannot be used at all (the question still answered).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from analyticsd.core.aggregate import Aggregation, day_number
from analyticsd.core.buckets import zone
from analyticsd.core.geo import GeoInfo
from analyticsd.core.query import CustomMetric, parse_query
from analyticsd.core.v2query import decode_body, parse_v2
from analyticsd.storage.columnstore import FILENAME as COPY
from analyticsd.storage.columnstore import ColumnStore
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports, StatsStoreView
from analyticsd.storage.statsdb import FILENAME, StatsDB, connect_readonly
from bench import stats_fixture
from tests.core.records_fixture import rec
from tests.storage.test_statsdb import MIN, T, feed

SITE = stats_fixture.BIG
CUSTOM = {
    "pro": CustomMetric("pro", "count", event="Signup", props=(("plan", "pro"),)),
    "signups": CustomMetric("signups", "distinct", event="Signup", of="visitor"),
    "plans": CustomMetric("plans", "distinct", event="Signup", of="props.plan"),
    "sessions": CustomMetric("sessions", "distinct", of="session"),
    "pricing_views": CustomMetric("pricing_views", "count", page="/pricing"),
    "docs_views": CustomMetric("docs_views", "count", page="/docs/*"),
    "goal_signups": CustomMetric("goal_signups", "count", goal="Signup"),
    "revenue_sum": CustomMetric("revenue_sum", "sum", field="revenue"),
    "revenue_avg": CustomMetric("revenue_avg", "avg", field="revenue"),
    "revenue_max": CustomMetric("revenue_max", "max", field="revenue"),
    "revenue_p90": CustomMetric("revenue_p90", "percentile", field="revenue", p=90),
    "per_visit": CustomMetric("per_visit", "ratio", numerator="pageviews", denominator="visits"),
    "pro_share": CustomMetric("pro_share", "ratio", numerator="pro", denominator="signups"),
}
GOALS = ("Signup", "purchase")  # the goals the fixture's records carry


def _engines(data: Path) -> tuple[QueryEngine, QueryEngine, ColumnStore]:
    """(on the column store, on SQLite's rows, the store) over one database."""
    store = ColumnStore(str(data))
    copy = QueryEngine(connect_readonly(str(data / FILENAME)), columns=store)
    rows = QueryEngine(connect_readonly(str(data / FILENAME)))
    return copy, rows, store


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Forty days of traffic of two sites counted by the daemon's own code."""
    data = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as mp:
        # The other sites' default volumes (600,000 page views) only cost
        # time here; one small site keeps other sites' rows in the tables.
        mp.setattr(stats_fixture, "SMALL", {"shop.example": 3000})
        stats_fixture.generate(data, 20_000, days=40, log=False)
    tz = stats_fixture.TZ[SITE]
    today = day_number(datetime.now(UTC).astimezone(zone(tz)).strftime("%Y-%m-%d"))
    return data, today


PAGE_VIEWS = "visitors,pageviews"
VISIT_METRICS = "visitors,visits,bounce_rate,visit_duration,views_per_visit"
# (endpoint, parameters) of questions that need per-event rows.
QUESTIONS: list[tuple[str, dict[str, str]]] = [
    # event:page with one, several, `|`, `!=` and wildcard filters
    ("breakdown", {"property": "event:page", "filters": "visit:source==Google"}),
    ("breakdown", {"property": "event:page", "filters": "visit:source==Google|Bing"}),
    ("breakdown", {"property": "event:page", "filters": "visit:source!=Google"}),
    ("breakdown", {"property": "event:page", "filters": "visit:device!=Desktop;visit:country==DE"}),
    ("breakdown", {"property": "event:page", "filters": "event:page==/docs/*"}),
    ("breakdown", {"property": "event:page", "filters": "event:page!=/docs/*|/blog/*"}),
    ("breakdown", {"property": "event:page", "filters": "event:page==/blog/page-1*;visit:os==iOS"}),
    (
        "breakdown",
        {"property": "event:page", "filters": "visit:source==Google;visit:browser==Chrome;"
         "visit:country!=US|FR;event:page!=/"},
    ),  # fmt: skip
    ("breakdown", {"property": "event:page", "filters": "visit:source==Google", "page": "2"}),
    # entry and exit pages
    ("breakdown", {"property": "visit:browser", "filters": "visit:entry_page==/pricing"}),
    ("breakdown", {"property": "visit:country", "filters": "visit:exit_page==/about"}),
    ("breakdown", {"property": "visit:entry_page", "filters": "visit:source==Google"}),
    ("breakdown", {"property": "visit:exit_page", "filters": "visit:entry_page==/|/pricing"}),
    # visit dimensions broken down
    ("breakdown", {"property": "visit:source", "filters": "event:page==/pricing"}),
    ("breakdown", {"property": "visit:channel", "filters": "visit:device==Mobile"}),
    ("breakdown", {"property": "visit:os", "filters": "visit:browser!=Chrome"}),
    ("breakdown", {"property": "visit:city", "filters": "visit:country==DE|FR"}),
    ("breakdown", {"property": "visit:utm_campaign", "filters": "visit:device!=Tablet"}),
    ("breakdown", {"property": "event:name", "filters": "visit:country==US|DE"}),
    # custom properties, the "(none)" row included
    ("breakdown", {"property": "event:props:plan", "filters": "event:name==Signup"}),
    ("breakdown", {"property": "event:props:plan", "filters": "visit:device==Desktop"}),
    ("breakdown", {"property": "visit:source", "filters": "event:props:plan==pro|team"}),
    ("breakdown", {"property": "visit:country", "filters": "event:props:plan!=free"}),
    # goals
    (
        "breakdown",
        {"property": "event:goal", "filters": "visit:device==Mobile",
         "metrics": "visitors,events,conversion_rate"},
    ),  # fmt: skip
    (
        "breakdown",
        {"property": "visit:source", "filters": "event:goal==Signup",
         "metrics": "visitors,events,conversion_rate"},
    ),  # fmt: skip
    ("aggregate", {"filters": "event:goal==Signup|purchase;visit:country!=DE"}),
    # visit metrics, filtered
    ("breakdown", {"property": "event:page", "filters": "visit:source==Google", "metrics": VISIT_METRICS}),  # fmt: skip
    ("breakdown", {"property": "visit:country", "filters": "visit:entry_page==/", "metrics": VISIT_METRICS}),  # fmt: skip
    ("aggregate", {"filters": "visit:source==Google;visit:device==Mobile"}),
    (
        "aggregate",
        {"filters": "visit:entry_page==/", "metrics": "visitors,visits,pageviews,bounce_rate,"
         "visit_duration,views_per_visit,events"},
    ),  # fmt: skip
    # custom metrics of each type
    ("breakdown", {"property": "visit:country", "metrics": "pro"}),
    ("breakdown", {"property": "visit:source", "metrics": "signups,revenue_sum"}),
    (
        "breakdown",
        {"property": "visit:channel", "metrics": "visitors,plans,sessions,pricing_views,"
         "docs_views,goal_signups"},
    ),  # fmt: skip
    (
        "breakdown",
        {"property": "visit:country", "metrics": "visitors,revenue_sum,revenue_avg,revenue_max,"
         "revenue_p90,per_visit,pro_share"},
    ),  # fmt: skip
    ("aggregate", {"metrics": "visitors,pro,signups,revenue_avg,revenue_p90,per_visit,pro_share"}),
    ("aggregate", {"filters": "visit:device==Mobile", "metrics": "per_visit,docs_views,plans"}),
    # series: each interval, filtered (month: DuckDB's month expression)
    ("timeseries", {"filters": "visit:source==Google|Bing", "interval": "date"}),
    ("timeseries", {"filters": "visit:device!=Desktop", "interval": "week"}),
    ("timeseries", {"filters": "visit:country!=DE", "interval": "month", "period": "month"}),
    ("timeseries", {"filters": "visit:country!=DE", "interval": "month", "period": "30d"}),
    ("timeseries", {"filters": "visit:source==Google", "interval": "hour", "period": "7d"}),
    ("timeseries", {"filters": "visit:exit_page==/", "interval": "date", "metrics": VISIT_METRICS}),  # fmt: skip
    ("timeseries", {"metrics": "pro,per_visit", "interval": "date"}),
]


@pytest.mark.parametrize(("endpoint", "params"), QUESTIONS)
def test_the_copy_answers_as_sqlite_rows_do(
    generated: tuple[Path, int], endpoint: str, params: dict[str, str]
) -> None:
    data, today = generated
    copy, rows, store = _engines(data)
    with copy.events() as d:
        assert d.duck  # the copy is there to read
    tz = stats_fixture.TZ[SITE]
    args = {"site_id": SITE, "period": "30d", "metrics": PAGE_VIEWS, **params}
    q = parse_query(endpoint, args, tz, today, CUSTOM, GOALS)
    answers = []
    for engine in (copy, rows):
        engine.start()
        reports = Reports(engine, CUSTOM, 0)
        answers.append(getattr(reports, endpoint)(q))
        assert "events" in reports.engines_used  # a question of the per-event rows
    assert answers[0] == answers[1]
    assert _has_numbers(answers[0])  # something was counted: the comparison has teeth
    copy.close()
    rows.close()
    store.close()


# Stats API v2 bodies (filter trees, operators, several dimensions).
V2_BODIES: list[dict[str, Any]] = [
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page"],
        "filters": [["or", [["is", "visit:source", ["Google"]], ["is", "visit:country", ["FR"]]]]],
    },
    {
        "metrics": ["visitors", "visits", "bounce_rate"],
        "dimensions": ["visit:source", "visit:device"],
        "filters": [["not", ["is", "visit:country", ["DE", "US"]]]],
    },
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page"],
        "filters": [["contains", "event:page", ["docs"]], ["is_not", "visit:browser", ["Safari"]]],
    },
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["visit:browser", "visit:os"],
        "filters": [["matches", "event:page", ["^/blog/page-[0-9]+$"]]],
    },
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["event:page"],
        "filters": [["contains", "event:page", ["PRICING", "ABOUT"], {"case_sensitive": False}]],
    },
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["visit:country"],
        "filters": [["matches", "visit:source", ["^goo"], {"case_sensitive": False}]],
    },
    {
        "metrics": ["visitors", "pageviews"],
        "dimensions": ["visit:source"],
        "filters": [["contains_not", "event:page", ["/docs/"]], ["matches_not", "event:page", ["^/$"]]],
    },  # fmt: skip
    {
        "metrics": ["visitors", "visits", "visit_duration"],
        "dimensions": ["time:day", "visit:device"],
        "filters": [
            ["and", [["is", "visit:source", ["Google", "Bing"]],
                     ["or", [["is", "visit:device", ["Mobile"]], ["not", ["is", "visit:os", ["Windows"]]]]]]]
        ],
    },  # fmt: skip
    {
        "metrics": ["visitors", "events"],
        "dimensions": ["event:goal", "visit:country"],
        "filters": [["is", "visit:channel", ["Organic Search", "Direct"]]],
    },
    {
        "metrics": ["visitors", "pageviews", "pro", "per_visit"],
        "dimensions": ["time:month"],
        "filters": [["is_not", "visit:device", ["Desktop"]]],
    },
    {
        "metrics": ["visitors", "events"],
        "dimensions": ["event:props:plan", "visit:entry_page"],
        "filters": [["is", "event:name", ["Signup"]]],
    },
]


@pytest.mark.parametrize("body", V2_BODIES)
def test_the_copy_answers_v2_queries_as_sqlite_rows_do(
    generated: tuple[Path, int], body: dict[str, Any]
) -> None:
    data, today = generated
    copy, rows, store = _engines(data)
    tz = stats_fixture.TZ[SITE]
    raw = msgspec.json.encode({"site_id": SITE, "date_range": "30d", **body})
    q = parse_v2(decode_body(raw), tz, today, GOALS, CUSTOM)
    answers = []
    for engine in (copy, rows):
        engine.start()
        answers.append(StatsStoreView(engine).v2(CUSTOM, 0, q, today))
    with copy.events() as d:
        assert d.duck  # the first answer came from the copy
    assert answers[0]["results"] == answers[1]["results"]
    assert _has_numbers(answers[0])
    copy.close()
    rows.close()
    store.close()


def _has_numbers(answer: Any) -> bool:
    """Whether any number in the answer's results is above zero."""

    def walk(v: Any) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return v > 0
        if isinstance(v, dict):
            return any(walk(x) for x in v.values())
        if isinstance(v, list | tuple):
            return any(walk(x) for x in v)
        return False

    return walk(answer["results"])


def _breakdown(engine: QueryEngine, prop: str = "event:page", filters: str = "") -> Any:
    today = day_number("2026-11-23")
    args = {"site_id": "s", "period": "day", "property": prop, "metrics": "visitors,pageviews"}
    if filters:
        args["filters"] = filters
    q = parse_query("breakdown", args, "UTC", today, {})
    engine.start()
    return Reports(engine, {}, 0).breakdown(q)["results"]


def _visits(engine: QueryEngine, filters: str) -> Any:
    today = day_number("2026-11-23")
    args = {
        "site_id": "s",
        "period": "day",
        "metrics": "visits,pageviews,bounce_rate,visit_duration",
        "filters": filters,
    }
    q = parse_query("aggregate", args, "UTC", today, {})
    engine.start()
    return Reports(engine, {}, 0).aggregate(q)["results"]


DE = GeoInfo("DE", "Berlin", "Berlin")


def test_the_copy_follows_new_events_and_growing_visits(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a", geo=DE), rec(T, "00000000000000b2", "/b")], 1)
    copy, rows, store = _engines(tmp_path)
    first = _breakdown(copy, filters="visit:country!=FR")
    assert first == _breakdown(rows, filters="visit:country!=FR")
    assert {r["page"] for r in first} == {"/a", "/b"}
    # More events of a's visit (its exit page and page views change) and a
    # new visitor.
    feed(
        db,
        agg,
        [
            rec(T + MIN, "00000000000000a1", "/c", geo=DE),
            rec(T + 2 * MIN, "00000000000000a1", "/d", geo=DE),
            rec(T + MIN, "00000000000000c3", "/c", geo=DE),
        ],
        3,
    )
    second = _breakdown(copy, filters="visit:country==DE")
    assert second == _breakdown(rows, filters="visit:country==DE")
    assert {r["page"]: r["visitors"] for r in second} == {"/a": 1, "/c": 2, "/d": 1}
    exits = _visits(copy, "visit:exit_page==/d")
    assert exits == _visits(rows, "visit:exit_page==/d")
    assert exits["visits"]["value"] == 1
    assert exits["pageviews"]["value"] == 3
    assert _visits(copy, "visit:exit_page==/a")["visits"]["value"] == 0  # a left at /d now
    assert store.rebuilds == 1  # built once, then brought up to date row by row
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


def test_a_change_in_place_builds_the_copy_again(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a"), rec(T, "00000000000000b2", "/b")], 1)
    copy, rows, store = _engines(tmp_path)
    per_event = "visit:device!=Tablet"  # a filter only per-event rows answer
    assert {r["page"] for r in _breakdown(copy, filters=per_event)} == {"/a", "/b"}
    # What a recompute or a migration does: rows changed where they are.
    db.conn.execute("UPDATE events SET path = '/z' WHERE path = '/b'")
    db.conn.commit()
    generation = db.conn.execute(
        "SELECT value FROM meta WHERE key = 'events_generation'"
    ).fetchone()[0]
    assert generation >= 1
    after = _breakdown(copy, filters=per_event)
    assert after == _breakdown(rows, filters=per_event)
    assert {r["page"] for r in after} == {"/a", "/z"}
    assert store.rebuilds == 2
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


def test_the_prune_reaches_the_copy(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(
        db,
        agg,
        [rec(T, "00000000000000a1", "/old"), rec(T + 30 * MIN, "00000000000000b2", "/new")],
        1,
    )
    copy, rows, store = _engines(tmp_path)
    assert {r["page"] for r in _breakdown(copy, filters="visit:device!=Tablet")} == {"/old", "/new"}
    db.prune(T + 10 * MIN)
    after = _breakdown(copy, filters="visit:device!=Tablet")
    assert after == _breakdown(rows, filters="visit:device!=Tablet")
    assert {r["page"] for r in after} == {"/new"}
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    cur.close()
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


def test_a_damaged_copy_is_built_again(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a"), rec(T, "00000000000000b2", "/b")], 1)
    copy, rows, store = _engines(tmp_path)
    expected = _breakdown(rows, filters="visit:device!=Tablet")
    assert _breakdown(copy, filters="visit:device!=Tablet") == expected
    copy.close()
    store.close()
    (tmp_path / COPY).write_bytes(os.urandom(64 * 1024))
    # Its log belongs to the file it replaced.
    (tmp_path / f"{COPY}.wal").unlink(missing_ok=True)
    copy2, _, store2 = _engines(tmp_path)
    assert _breakdown(copy2, filters="visit:device!=Tablet") == expected
    with copy2.events() as d:
        assert d.duck
    assert store2.rebuilds == 1
    for e in (copy2, rows):
        e.close()
    store2.close()
    db.close()


def test_a_copy_that_cannot_be_made_leaves_the_answer_to_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a"), rec(T, "00000000000000b2", "/b")], 1)
    (tmp_path / COPY).mkdir()  # nothing can open a directory as the copy
    copy, rows, store = _engines(tmp_path)
    with caplog.at_level(logging.WARNING):
        answer = _breakdown(copy, filters="visit:device!=Tablet")
    assert answer == _breakdown(rows, filters="visit:device!=Tablet")
    assert {r["page"] for r in answer} == {"/a", "/b"}
    assert "answered from SQLite" in caplog.text
    with copy.events() as d:
        assert not d.duck
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


def test_the_triggers_count_changes_in_place_only(tmp_path: Path) -> None:
    """Flushes insert (and replace visits): no rebuild for them; an UPDATE
    of an event or a visit moves the generation."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a")], 1)
    feed(db, agg, [rec(T + MIN, "00000000000000a1", "/b")], 2)

    def generation(c: sqlite3.Connection) -> int:
        return int(
            c.execute("SELECT value FROM meta WHERE key = 'events_generation'").fetchone()[0]
        )

    assert generation(db.conn) == 0
    db.conn.execute("UPDATE visits SET conversions = 1")
    db.conn.commit()
    assert generation(db.conn) == 1
    db.close()
