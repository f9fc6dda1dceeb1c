from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from analyticsd.core.aggregate import (
    DAY,
    HOUR,
    MONTH,
    SITE,
    WEEK,
    Aggregation,
    day_number,
    week_of,
)
from analyticsd.core.errors import QueryError, StatsStoreError
from analyticsd.core.geo import GeoInfo
from analyticsd.core.query import parse_query
from analyticsd.core.source import Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import ClientInfo
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports
from analyticsd.storage.statsdb import (
    FILENAME,
    WAL_KEEP_BYTES,
    StatsDB,
    StatsReader,
    connect_readonly,
)
from tests.core.records_fixture import ms, rec

T = ms("2026-11-23T10:00:00+00:00")
MIN = 60_000


def feed(db: StatsDB, agg: Aggregation, records: list[EnrichedRecord], start_seq: int) -> None:
    for seq, r in enumerate(records, start_seq):
        for site, gran, bucket in agg.marks_needed([r]):
            agg.load_marks(site, gran, bucket, db.bucket_marks(site, gran, bucket, "UTC"))
        agg.add(seq, r)
    batch = agg.take()
    db.flush(batch, T)
    agg.committed(batch)


def restart(db: StatsDB) -> Aggregation:
    """What the aggregator does on start: resume from SQLite alone."""
    agg = Aggregation(tz_of={"s": "UTC"}, last_seq=db.last_seq())
    for s, flushed in db.open_sessions(T - 3600_000):
        agg.restore(s, flushed)
    return agg


def test_flushes_add_up_and_visitors_count_once(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a"), rec(T, "00000000000000b2", "/b")], 1)
    feed(db, agg, [rec(T + MIN, "00000000000000a1", "/a"), rec(T, "00000000000000c3", "/c")], 3)
    reader = StatsReader(str(tmp_path))
    day = reader.day_stats("s", "2026-11-23")
    assert day is not None
    assert (day.pageviews, day.visitors) == (4, 3)
    assert day.top_paths == [("/a", 2), ("/b", 1), ("/c", 1)]
    assert db.last_seq() == 4
    assert reader.meta("last_flush_ms") == T
    assert reader.day_stats("s", "2026-11-24") is None
    assert reader.day_stats("other", "2026-11-23") is None


def test_a_restart_neither_splits_visits_nor_recounts_visitors(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a")], 1)
    # A new process: sessions and visitor marks come back from SQLite only.
    agg = restart(db)
    feed(db, agg, [rec(T + 5 * MIN, "00000000000000a1", "/b")], 2)
    row = db.conn.execute(
        "SELECT visitors, visits, pageviews, bounces, duration_ms FROM agg "
        "WHERE site='s' AND gran=? AND bucket=? AND dim=? AND val=''",
        (DAY, day_number("2026-11-23"), SITE),
    ).fetchone()
    assert row == (1, 1, 2, 0, 5 * MIN)
    assert db.conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    assert db.conn.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_recounted_marks_equal_the_live_ones(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    records = [
        rec(T + i * MIN, f"{i % 3:016x}", f"/p{i % 4}", props={"plan": "pro"}) for i in range(20)
    ]
    feed(db, agg, records, 1)
    for (site, gran, bucket), live in agg.seen.items():
        assert db.bucket_marks(site, gran, bucket, "UTC") == live
    assert len(agg.seen) == 2  # one hour (all events fall in it) and its day


def test_last_seq_never_moves_back(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T)], 10)
    db.flush(Aggregation(last_seq=5).take(), T)
    assert db.last_seq() == 10


def test_first_version_tables_are_migrated(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "stats.sqlite3")
    conn.executescript(
        """
        CREATE TABLE site_day (site TEXT, day TEXT, pageviews INT, events INT, visitors INT);
        CREATE TABLE site_hour (site TEXT, hour TEXT, pageviews INT, events INT);
        CREATE TABLE site_day_path (site TEXT, day TEXT, path TEXT, pageviews INT);
        CREATE TABLE day_visitor (site TEXT, day TEXT, visitor TEXT);
        INSERT INTO site_day VALUES ('s', '2026-11-20', 7, 9, 3);
        INSERT INTO site_hour VALUES ('s', '2026-11-20T08', 7, 9);
        INSERT INTO site_day_path VALUES ('s', '2026-11-20', '/a', 5), ('s', '2026-11-20', '/b', 2);
        """
    )
    conn.commit()
    conn.close()
    StatsDB(str(tmp_path)).close()
    day = StatsReader(str(tmp_path)).day_stats("s", "2026-11-20")
    assert day is not None
    assert (day.pageviews, day.visitors, day.top_paths) == (7, 3, [("/a", 5), ("/b", 2)])


def test_prune_drops_old_per_event_rows_and_visits_only(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    old, new = T - 40 * 86_400_000, T
    berlin = GeoInfo("DE", "Berlin", "Berlin")
    records = [rec(old, received_ms=old, geo=berlin), rec(new, "00000000000000b2", received_ms=new)]
    feed(db, agg, records, 1)
    # Two visits from different places: two combinations of visit dimensions.
    assert db.conn.execute("SELECT count(*) FROM visit_dims").fetchone() == (2,)
    assert db.prune(T - 30 * 86_400_000) == 1
    assert db.conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    assert db.conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    # The old visit's combination went with it; the kept visit reads its own.
    assert db.conn.execute("SELECT d_country FROM sessions").fetchall() == [("",)]
    assert db.conn.execute("SELECT count(*) FROM visit_dims").fetchone() == (1,)
    # The aggregates of the old day stay: only per-event detail expires.
    day = StatsReader(str(tmp_path)).day_stats("s", "2026-10-14")
    assert day is not None
    assert day.pageviews == 1


def test_prune_drops_old_hour_rows_only_and_queries_say_so(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    old, new = T - 100 * 86_400_000, T
    feed(db, agg, [rec(old, received_ms=old), rec(new, "00000000000000b2", received_ms=new)], 1)
    count = "SELECT count(*) FROM agg WHERE gran = ? AND bucket < ?"
    cut = day_number("2026-11-01") * 24
    assert db.conn.execute(count, (HOUR, cut)).fetchone()[0] > 0
    db.prune(T - 30 * 86_400_000, T - 62 * 86_400_000)
    assert db.conn.execute(count, (HOUR, cut)).fetchone() == (0,)  # the old hours went
    assert db.conn.execute(count, (HOUR, cut + 1000)).fetchone()[0] > 0  # today's stay
    # Day rows (and week and month rows) of the old day stay.
    day = StatsReader(str(tmp_path)).day_stats("s", "2026-08-15")
    assert day is not None
    assert day.pageviews == 1
    engine = QueryEngine(connect_readonly(str(tmp_path / FILENAME)))
    reports = Reports(engine, {}, 0)
    args = {"site_id": "s", "period": "custom", "interval": "hour", "metrics": "pageviews"}
    today = day_number("2026-11-23")

    def hourly(first: str, last: str) -> dict[str, object]:
        q = parse_query("timeseries", {**args, "date": f"{first},{last}"}, "UTC", today, {})
        return reports.timeseries(q)

    with pytest.raises(QueryError, match="hour_rollup_retention_days"):
        hourly("2026-08-15", "2026-08-16")  # would be partial: an error, not zeros
    points = hourly("2026-11-22", "2026-11-23")["results"]
    assert sum(p["pageviews"] for p in points) == 1  # type: ignore[index, attr-defined]
    engine.conn.close()


MONTH_SUMS = (
    "SELECT site, dim, val, sum(visitors), sum(visits), sum(pageviews), sum(events), "
    "sum(bounces), sum(duration_ms), sum(engaged), sum(conversions) FROM agg WHERE gran = ? "
    "GROUP BY site, dim, val ORDER BY site, dim, val"
)


def test_week_and_month_rows_are_the_sums_of_their_days(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    days = [T, T + 86_400_000, T + 8 * 86_400_000]  # 23, 24 Nov and 1 Dec
    seq = 1
    for i, t in enumerate(days):
        records = [
            rec(t, f"00000000000000a{i}", "/a", revenue=("2.5", "EUR"), goals=("purchase",)),
            rec(t + MIN, f"00000000000000a{i}", "/b"),
            rec(t, f"00000000000000b{i}", "/a"),
        ]
        feed(db, agg, records, seq)
        seq += len(records)
    c = db.conn
    nov, dec = 2026 * 12 + 10, 2026 * 12 + 11
    assert [
        b for (b,) in c.execute("SELECT DISTINCT bucket FROM agg WHERE gran = ?", (MONTH,))
    ] == [
        nov,
        dec,
    ]
    by_day = c.execute(MONTH_SUMS, (DAY,)).fetchall()
    assert by_day == c.execute(MONTH_SUMS, (MONTH,)).fetchall()
    assert by_day == c.execute(MONTH_SUMS, (WEEK,)).fetchall()
    weeks = [b for (b,) in c.execute("SELECT DISTINCT bucket FROM agg WHERE gran = ?", (WEEK,))]
    assert weeks == [week_of(day_number("2026-11-23")), week_of(day_number("2026-12-01"))]
    nov_site = c.execute(
        "SELECT pageviews, visitors FROM agg WHERE gran = ? AND bucket = ? AND dim = ?",
        (MONTH, nov, SITE),
    ).fetchone()
    assert nov_site == (6, 4)  # two days of 3 page views and 2 visitors (per day)
    revenue = c.execute(
        "SELECT amount_micros, n FROM revenue WHERE gran = ? AND bucket = ? AND dim = ?",
        (MONTH, nov, SITE),
    ).fetchone()
    assert revenue == (5_000_000, 2)


def test_week_and_month_rows_are_built_once_for_an_older_database(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    feed(db, Aggregation(tz_of={"s": "UTC"}), [rec(T, "00000000000000a1", "/a")], 1)
    want = {g: db.conn.execute(MONTH_SUMS, (g,)).fetchall() for g in (WEEK, MONTH)}
    # As a database written before WEEK and MONTH rows existed.
    db.conn.execute("DELETE FROM agg WHERE gran IN (?, ?)", (WEEK, MONTH))
    db.conn.execute("DELETE FROM meta WHERE key = 'week_rows'")
    db.close()
    for _ in range(2):  # built once, and not again (nothing doubles)
        db = StatsDB(str(tmp_path))
        assert {g: db.conn.execute(MONTH_SUMS, (g,)).fetchall() for g in (WEEK, MONTH)} == want
        db.close()


def test_a_full_database_reports_its_own_error_and_the_batch_is_flushed_later(
    tmp_path: Path,
) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T, "00000000000000a1", "/a")], 1)
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    db.conn.execute(f"PRAGMA max_page_count = {pages}")  # as good as a full disk
    records = [rec(T + i, f"{i + 0x1000:016x}", f"/p{i}") for i in range(500)]
    for seq, r in enumerate(records, 2):
        for site, gran, bucket in agg.marks_needed([r]):
            agg.load_marks(site, gran, bucket, db.bucket_marks(site, gran, bucket, "UTC"))
        agg.add(seq, r)
    batch = agg.take()
    with pytest.raises(StatsStoreError, match="database or disk is full") as caught:
        db.flush(batch, T)
    assert "cannot rollback" not in str(caught.value)
    agg.failed(batch)
    assert db.last_seq() == 1  # nothing of the failed batch is in
    db.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    batch = agg.take()
    db.flush(batch, T)
    agg.committed(batch)
    day = StatsReader(str(tmp_path)).day_stats("s", "2026-11-23")
    assert day is not None
    assert (day.pageviews, day.visitors, db.last_seq()) == (501, 501, 501)


def test_truncating_the_wal_gives_its_space_back_and_keeps_every_count(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    reader = StatsReader(str(tmp_path))  # a reader open, as in the daemon
    agg = Aggregation(tz_of={"s": "UTC"})
    feed(db, agg, [rec(T + i, f"{i + 0x1000:016x}", f"/p{i}") for i in range(2000)], 1)
    wal = tmp_path / "stats.sqlite3-wal"
    assert wal.stat().st_size > 100_000
    db.truncate_wal()
    assert wal.stat().st_size == 0
    day = reader.day_stats("s", "2026-11-23")
    assert day is not None
    assert (day.pageviews, day.visitors, db.last_seq()) == (2000, 2000, 2000)


def test_a_wal_grown_by_a_big_flush_is_cut_back_when_it_starts_over(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    n = 40_000
    feed(db, agg, [rec(T + i, "00000000000000a1", f"/p{i}") for i in range(n)], 1)
    wal = tmp_path / "stats.sqlite3-wal"
    assert wal.stat().st_size > WAL_KEEP_BYTES
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    feed(db, agg, [rec(T + MIN, "00000000000000a1", "/a")], n + 1)  # starts the WAL over
    assert wal.stat().st_size <= WAL_KEEP_BYTES


def test_engagement_rows_from_before_visit_pages_get_the_column(tmp_path: Path) -> None:
    """A store whose engagement table predates the engaged visit-pages keeps
    its rows (at 0 visit-pages) and takes new ones with them."""
    conn = sqlite3.connect(tmp_path / "stats.sqlite3")
    conn.executescript(
        "CREATE TABLE engagement (site TEXT NOT NULL, gran INTEGER NOT NULL, "
        "bucket INTEGER NOT NULL, dim INTEGER NOT NULL, val TEXT NOT NULL, "
        "engaged_ms INTEGER NOT NULL, scroll_sum INTEGER NOT NULL, scroll_n INTEGER NOT NULL, "
        "PRIMARY KEY (site, gran, bucket, dim, val)) WITHOUT ROWID;"
        "INSERT INTO engagement VALUES ('s', 1, 20000, 30, '/a', 5000, 70, 1);"
    )
    conn.commit()
    conn.close()
    db = StatsDB(str(tmp_path))
    old = db.conn.execute("SELECT engaged_ms, scroll_sum, scroll_n, visits FROM engagement")
    assert old.fetchall() == [(5000, 70, 1, 0)]
    agg = Aggregation(tz_of={"s": "UTC"})
    page = rec(T, path="/b")
    ev = msgspec.structs.replace(page.event, event_type="engagement", engaged_ms=3000)
    feed(db, agg, [page, msgspec.structs.replace(page, event=ev)], 1)
    rows = db.conn.execute(
        "SELECT engaged_ms, visits FROM engagement WHERE val = '/b' AND gran = ?", (DAY,)
    ).fetchall()
    assert rows == [(3000, 1)]


def _rows(c: sqlite3.Connection, table: str = "agg") -> list[tuple[object, ...]]:
    rows = c.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5").fetchall()
    if table == "sessions":  # the values, not the id of their combination (renumbered)
        return [r[:17] + r[18:] for r in rows]
    return rows


def test_a_database_of_earlier_values_is_migrated_once_to_plausibles(tmp_path: Path) -> None:
    """Earlier versions wrote "organic", "desktop", "macOS", OS versions with
    a patch level, referrers with a trailing slash, and no rows for the empty
    value ("(not set)"): opening such a database gives it the rows this
    version writes, once."""
    mac = ClientInfo("Safari", "17.2", "Mac", "10.15", "Desktop", False)
    unknown = ClientInfo("", "", "", "", "", False)
    records = [
        rec(T, "00000000000000a1", "/a", source=Source("Organic Search", "Google", "google.com")),
        rec(T + MIN, "00000000000000a1", "/b"),
        rec(T, "00000000000000b2", "/a", client=mac, source=Source("Referral", "x.org", "x.org/p")),
        rec(T + 86_400_000, "00000000000000c3", "/c", client=unknown),
    ]
    db = StatsDB(str(tmp_path))
    feed(db, Aggregation(tz_of={"s": "UTC"}), records, 1)
    want_agg, want_sessions = _rows(db.conn), _rows(db.conn, "sessions")
    assert ("s", DAY, day_number("2026-11-23"), 15, "", 0, 0, 0, 0, 0, 0, 0, 0) not in want_agg
    # As an earlier version wrote it.
    old = {"Organic Search": "organic", "Referral": "referral", "Desktop": "desktop"}
    c = db.conn
    for code, column in ((4, "d_channel"), (15, "d_device")):
        for new, before in old.items():
            c.execute("UPDATE agg SET val = ? WHERE dim = ? AND val = ?", (before, code, new))
            c.execute(f"UPDATE visit_dims SET {column} = ? WHERE {column} = ?", (before, new))
    c.execute("UPDATE agg SET val = 'macOS' WHERE dim = 13 AND val = 'Mac'")
    c.execute(
        "UPDATE agg SET val = ? WHERE dim = 14 AND val = ?", ("macOS\x1f10.15.7", "Mac\x1f10.15")
    )
    c.execute("UPDATE agg SET val = 'x.org/p/' WHERE dim = 5 AND val = 'x.org/p'")
    c.execute(
        "UPDATE visit_dims SET d_os = 'macOS', d_os_version = ? WHERE d_os = 'Mac'",
        ("macOS\x1f10.15.7",),
    )
    c.execute("DELETE FROM agg WHERE val = '' AND dim BETWEEN 5 AND 15")
    c.execute("DELETE FROM meta WHERE key = 'plausible_values'")
    db.close()
    for _ in range(2):  # once, and not again
        db = StatsDB(str(tmp_path))
        assert _rows(db.conn) == want_agg
        assert _rows(db.conn, "sessions") == want_sessions
        db.close()
    empty = [r for r in want_agg if r[4] == "" and r[3] == 15 and r[1] == DAY]
    assert [(r[2] - day_number("2026-11-23"), r[5]) for r in empty] == [(1, 1)]  # visitor c3


def test_a_database_with_a_sessions_table_is_converted_once(tmp_path: Path) -> None:
    """Databases of earlier versions kept each visit's dimensions in a
    `sessions` table; opening one moves them to visit_dims, keeps every
    visit as it was, and gives the per-event rows their combination ids."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    records = [
        rec(T, "00000000000000a1", "/a", geo=GeoInfo("DE", "Berlin", "Berlin")),
        rec(T + MIN, "00000000000000a1", "/b", geo=GeoInfo("DE", "Berlin", "Berlin")),
        rec(T, "00000000000000b2", "/c"),
        rec(T, "00000000000000c3", "/d", geo=GeoInfo("FR", "", "")),
    ]
    feed(db, agg, records, 1)
    before = db.conn.execute("SELECT * FROM sessions ORDER BY id").fetchall()
    # The earlier layout: a table of that content, events without vd.
    c = db.conn
    c.executescript(
        "CREATE TABLE old AS SELECT * FROM sessions; DROP VIEW sessions; "
        "DROP TABLE visits; DROP TABLE visit_dims; ALTER TABLE old DROP COLUMN vd; "
        "ALTER TABLE old RENAME TO sessions; DROP INDEX events_ts; "
        "ALTER TABLE events DROP COLUMN vd; CREATE INDEX events_site_ts ON events(site, ts);"
    )
    db.close()
    for _ in range(2):  # the second open finds nothing to do
        db = StatsDB(str(tmp_path))
        kind = db.conn.execute("SELECT type FROM sqlite_master WHERE name = 'sessions'")
        assert kind.fetchone() == ("view",)
        after = db.conn.execute("SELECT * FROM sessions ORDER BY id").fetchall()
        # The view's columns: the visit's, its combination id, the dimensions.
        assert [r[:17] + r[18:] for r in after] == [r[:17] + r[18:] for r in before]
        assert db.conn.execute("SELECT count(*) FROM visit_dims").fetchone() == (3,)
        ids = db.conn.execute(
            "SELECT count(*) FROM events e JOIN visits v ON v.id = e.session AND v.vd = e.vd"
        )
        assert ids.fetchone() == (4,)
        db.close()
