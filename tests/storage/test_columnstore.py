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
import uuid
from datetime import UTC, datetime, timedelta
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
from tests import web
from tests.core.records_fixture import rec
from tests.helpers import TEST_SITE, Daemon, free_port, running_daemon, write_config
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
        {
            "property": "event:page",
            "filters": "visit:source==Google;visit:browser==Chrome;"
            "visit:country!=US|FR;event:page!=/",
        },
    ),
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
        {
            "property": "event:goal",
            "filters": "visit:device==Mobile",
            "metrics": "visitors,events,conversion_rate",
        },
    ),
    (
        "breakdown",
        {
            "property": "visit:source",
            "filters": "event:goal==Signup",
            "metrics": "visitors,events,conversion_rate",
        },
    ),
    ("aggregate", {"filters": "event:goal==Signup|purchase;visit:country!=DE"}),
    # visit metrics, filtered
    (
        "breakdown",
        {"property": "event:page", "filters": "visit:source==Google", "metrics": VISIT_METRICS},
    ),
    (
        "breakdown",
        {"property": "visit:country", "filters": "visit:entry_page==/", "metrics": VISIT_METRICS},
    ),
    ("aggregate", {"filters": "visit:source==Google;visit:device==Mobile"}),
    (
        "aggregate",
        {
            "filters": "visit:entry_page==/",
            "metrics": "visitors,visits,pageviews,bounce_rate,"
            "visit_duration,views_per_visit,events",
        },
    ),
    # custom metrics of each type
    ("breakdown", {"property": "visit:country", "metrics": "pro"}),
    ("breakdown", {"property": "visit:source", "metrics": "signups,revenue_sum"}),
    (
        "breakdown",
        {
            "property": "visit:channel",
            "metrics": "visitors,plans,sessions,pricing_views,docs_views,goal_signups",
        },
    ),
    (
        "breakdown",
        {
            "property": "visit:country",
            "metrics": "visitors,revenue_sum,revenue_avg,revenue_max,"
            "revenue_p90,per_visit,pro_share",
        },
    ),
    ("aggregate", {"metrics": "visitors,pro,signups,revenue_avg,revenue_p90,per_visit,pro_share"}),
    ("aggregate", {"filters": "visit:device==Mobile", "metrics": "per_visit,docs_views,plans"}),
    # series: each interval, filtered (month: DuckDB's month expression)
    ("timeseries", {"filters": "visit:source==Google|Bing", "interval": "date"}),
    ("timeseries", {"filters": "visit:device!=Desktop", "interval": "week"}),
    ("timeseries", {"filters": "visit:country!=DE", "interval": "month", "period": "month"}),
    ("timeseries", {"filters": "visit:country!=DE", "interval": "month", "period": "30d"}),
    ("timeseries", {"filters": "visit:source==Google", "interval": "hour", "period": "7d"}),
    (
        "timeseries",
        {"filters": "visit:exit_page==/", "interval": "date", "metrics": VISIT_METRICS},
    ),
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
        "filters": [
            ["contains_not", "event:page", ["/docs/"]],
            ["matches_not", "event:page", ["^/$"]],
        ],
    },
    {
        "metrics": ["visitors", "visits", "visit_duration"],
        "dimensions": ["time:day", "visit:device"],
        "filters": [
            [
                "and",
                [
                    ["is", "visit:source", ["Google", "Bing"]],
                    [
                        "or",
                        [
                            ["is", "visit:device", ["Mobile"]],
                            ["not", ["is", "visit:os", ["Windows"]]],
                        ],
                    ],
                ],
            ]
        ],
    },
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


AMOUNTS = {
    "sum": CustomMetric("sum", "sum", event="Order", field="props.amount"),
    "avg": CustomMetric("avg", "avg", event="Order", field="props.amount"),
    "min": CustomMetric("min", "min", event="Order", field="props.amount"),
    "max": CustomMetric("max", "max", event="Order", field="props.amount"),
    "p50": CustomMetric("p50", "percentile", event="Order", field="props.amount", p=50),
    "p90": CustomMetric("p90", "percentile", event="Order", field="props.amount", p=90),
    "kinds": CustomMetric("kinds", "distinct", event="Order", of="props.amount"),
    "gifts": CustomMetric("gifts", "count", event="Order", props=(("gift", "true"),)),
    "per_order": CustomMetric("per_order", "ratio", numerator="sum", denominator="events"),
}


def test_numeric_properties_aggregate_alike_in_both(tmp_path: Path) -> None:
    """Sums, means, extremes and exact percentiles of a numeric property,
    text in it skipped, booleans read as "true": one value per dialect's
    JSON functions, so each engine is checked against the numbers too."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    amounts: list[int | float | str] = [1, 2, 3.5, 4, 10, "lots"]
    records = [
        rec(T + i * MIN, f"00000000000000a{i}", "/buy", kind="Order", geo=DE,
            props={"amount": a, "gift": i % 2 == 0})
        for i, a in enumerate(amounts)
    ]  # fmt: skip
    feed(db, agg, records, 1)
    copy, rows, store = _engines(tmp_path)
    args = {"site_id": "s", "period": "day", "date": "2026-11-23", "metrics": ",".join(AMOUNTS)}
    q = parse_query("aggregate", args, "UTC", day_number("2026-11-24"), AMOUNTS)
    answers = []
    for engine in (copy, rows):
        engine.start()
        answers.append(Reports(engine, AMOUNTS, 0).aggregate(q)["results"])
    with copy.events() as d:
        assert d.duck
    got = {k: v["value"] for k, v in answers[0].items()}
    # p90 of 1, 2, 3.5, 4, 10: rank 3.6, 4 + 0.6 * (10 - 4)
    assert got == {"sum": 20.5, "avg": 4.1, "min": 1, "max": 10, "p50": 3.5, "p90": 7.6,
                   "kinds": 6, "gifts": 3, "per_order": round(20.5 / 6, 4)}  # fmt: skip
    assert answers[0] == answers[1]
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


def test_rows_after_a_prune_of_everything_build_the_copy_again(tmp_path: Path) -> None:
    """A prune that empties `events` starts SQLite's rowids again: new rows
    under the rowids the copy already holds must not be taken for copied."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    old = [rec(T + i * MIN, f"00000000000000a{i}", f"/old{i}") for i in range(3)]
    feed(db, agg, old, 1)
    copy, rows, store = _engines(tmp_path)
    assert len(_breakdown(copy, filters="visit:device!=Tablet")) == 3
    db.prune(T + 60 * MIN)
    assert _breakdown(copy, filters="visit:device!=Tablet") == []
    new = [rec(T + (70 + i) * MIN, f"00000000000000b{i}", f"/new{i}") for i in range(4)]
    feed(db, agg, new, 4)
    after = _breakdown(copy, filters="visit:device!=Tablet")
    assert after == _breakdown(rows, filters="visit:device!=Tablet")
    assert {r["page"] for r in after} == {"/new0", "/new1", "/new2", "/new3"}
    assert store.rebuilds == 2  # the first build, and the one for the new table
    for e in (copy, rows):
        e.close()
    store.close()
    db.close()


# -- the daemon ------------------------------------------------------------------

DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
GOOGLE = "https://www.google.com/search?q=x"
# (client address, user agent, referrer, paths): a visit each. Visitors are
# told apart by address and user agent.
FIRST = [
    ("203.0.113.1", MOBILE_UA, GOOGLE, ["/a", "/b"]),
    ("203.0.113.2", MOBILE_UA, GOOGLE, ["/a"]),
    ("203.0.113.3", DESKTOP_UA, GOOGLE, ["/a"]),  # desktop: not counted
    ("203.0.113.4", MOBILE_UA, "", ["/a", "/c"]),  # direct: not counted
]
MORE = [
    ("203.0.113.5", MOBILE_UA, GOOGLE, ["/b", "/c"]),
    ("203.0.113.1", MOBILE_UA, "", ["/c"]),  # the first visitor again, same visit
]
ASKED = {"period": "day", "property": "event:page", "metrics": "visitors,pageviews",
         "filters": "visit:source==Google;visit:device==Mobile"}  # fmt: skip


def _send(d: Daemon, visits: list[tuple[str, str, str, list[str]]], start: datetime) -> None:
    with web.Client(timeout=10) as client:
        for i, (ip, ua, referrer, paths) in enumerate(visits):
            items = []
            for j, path in enumerate(paths):
                item: dict[str, Any] = {
                    "siteId": TEST_SITE,
                    "eventType": "pageview",
                    "url": f"https://test.example{path}",
                    "timestamp": (start + timedelta(seconds=10 * i + j)).isoformat(),
                    "eventId": str(uuid.uuid4()),
                }
                if j == 0 and referrer:
                    item["referrer"] = referrer
                items.append(item)
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={"User-Agent": ua, "X-Forwarded-For": ip},
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text


def _ask(d: Daemon, day: str) -> dict[str, tuple[int, int]]:
    r = web.get(
        f"{d.url}/api/v1/stats/breakdown",
        params={"site_id": TEST_SITE, "date": day, **ASKED},
        headers=d.auth(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return {row["page"]: (row["visitors"], row["pageviews"]) for row in r.json()["results"]}


def test_the_daemon_answers_from_the_copy_and_without_it(tmp_path: Path) -> None:
    # Events of a few minutes ago (all of them before now, on one UTC day).
    now = datetime.now(UTC)
    start = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0, second=0))
    day = start.strftime("%Y-%m-%d")
    with running_daemon(tmp_path / "with") as d:
        _send(d, FIRST, start)
        d.wait_caught_up()
        assert _ask(d, day) == {"/a": (2, 2), "/b": (1, 1)}
        assert (tmp_path / "with" / "data" / COPY).exists()
        _send(d, MORE, start + timedelta(minutes=2))
        d.wait_caught_up()
        grown = _ask(d, day)
        assert grown == {"/a": (2, 2), "/b": (2, 2), "/c": (2, 2)}
        assert "answered from SQLite" not in d.log()
    # Another daemon, its column store off, on the same events.
    plain = tmp_path / "without"
    port = free_port()
    config = write_config(plain, port, storage_extra="column_store = false")
    d2 = Daemon(config, port)
    d2.start()
    try:
        _send(d2, FIRST, start)
        _send(d2, MORE, start + timedelta(minutes=2))
        d2.wait_caught_up()
        assert _ask(d2, day) == grown
        assert not (plain / "data" / COPY).exists()
    finally:
        d2.kill()
