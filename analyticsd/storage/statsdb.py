"""The SQLite statistics store.

Invariants:
* Every flush is one `BEGIN IMMEDIATE` transaction that adds the bucket
  deltas with upserts, appends the per-event rows, saves the changed sessions
  and records `last_seq`, the highest spool sequence all of that covers. The
  aggregator resumes after `last_seq` on start (reloading open sessions), which
  is what makes counting exactly-once across crashes.
* The flush's row in `runs` is written in that same transaction: a run is
  logged `ok` exactly when its counts committed (storage.run_log).
* `synchronous=FULL`: a flush is durable before the spool may forget the
  records it covers.
* Only salted visitor hashes and derived facts are stored, never an IP or a
  user agent string.

Tables (see core.aggregate for how `agg` is keyed; storage.visitdims for
visits and their dimensions):
  agg       counters per (site, granularity, bucket, dimension, value)
  revenue   revenue per currency for the same keys
  engagement engaged time, scroll depth and engaged visit-pages (Plausible's
            engagement events) for the same keys, SITE and PAGE only (see
            core.engagement)
  events    one row per non-bot event, kept `raw_event_retention_days`
  visits    one row per visit, its dimensions by id (`vd`) in
  visit_dims one row per distinct combination of visit dimensions
  sessions  a view: visits with their dimensions' columns
  dims      dimension code → Stats API property name (for people reading SQL)
  runs      one row per aggregation run (flush, prune): storage.run_log

Methods are blocking; callers run each in one `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import chain, islice

import msgspec

from analyticsd.core import faults
from analyticsd.core.aggregate import (
    BOTS,
    DAY,
    DIMENSIONS,
    HOUR,
    MONTH,
    PAGE,
    SITE,
    WEEK,
    Contribution,
    FlushBatch,
    buckets,
    contribution_at,
    day_number,
    event_pairs,
    month_of,
    split_pairs,
    visitor_hex,
    visitor_int,
    visitor_marks,
    week_of,
)
from analyticsd.core.buckets import day_range_ms
from analyticsd.core.dimensions import EMPTY_LABELS, SEP, SESSION_DIMS, major_minor, shared_dims
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.messages import DayStats
from analyticsd.core.runs import FLUSH, OK, Run, failed
from analyticsd.core.sessions import Session
from analyticsd.core.source import LEGACY_CHANNELS
from analyticsd.core.useragent import (
    LEGACY_BROWSERS,
    LEGACY_DEVICES,
    LEGACY_OSES,
    MOBILE_APP,
)
from analyticsd.core.value_cap import Folded, ValueCap
from analyticsd.storage import run_log, visitdims

FILENAME = "stats.sqlite3"
SCHEMA_VERSION = 2
_METRICS = ("visitors", "visits", "pageviews", "events", "bounces", "duration_ms", "engaged")
METRIC_COLUMNS = (*_METRICS, "conversions")
_DIM_COLUMNS = visitdims.DIM_COLUMNS

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dims (code INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agg (
    site TEXT NOT NULL, gran INTEGER NOT NULL, bucket INTEGER NOT NULL,
    dim INTEGER NOT NULL, val TEXT NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" for c in METRIC_COLUMNS)},
    PRIMARY KEY (site, gran, bucket, dim, val)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revenue (
    site TEXT NOT NULL, gran INTEGER NOT NULL, bucket INTEGER NOT NULL,
    dim INTEGER NOT NULL, val TEXT NOT NULL, currency TEXT NOT NULL,
    amount_micros INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (site, gran, bucket, dim, val, currency)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS engagement (
    site TEXT NOT NULL, gran INTEGER NOT NULL, bucket INTEGER NOT NULL,
    dim INTEGER NOT NULL, val TEXT NOT NULL,
    engaged_ms INTEGER NOT NULL, scroll_sum INTEGER NOT NULL, scroll_n INTEGER NOT NULL,
    visits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, gran, bucket, dim, val)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    site TEXT NOT NULL, ts INTEGER NOT NULL, session INTEGER NOT NULL,
    visitor INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    props TEXT, goals TEXT, revenue_micros INTEGER, currency TEXT,
    user_id TEXT, event_id TEXT NOT NULL, vd INTEGER);
"""

# Per-event questions read the column store's copy (storage.columnstore),
# which brings its own layout; SQLite's rows are read by time range only
# (the copy's sync reads by rowid, the prune, recompute and export by time,
# realtime's last minutes, and per-event questions when the column store is
# off or out of memory). An index of the time alone: the covering index
# (site, ts, vd, name, path, visitor, session, goals, user_id) it replaces
# made SQLite's scans twice as fast but was 14 % of the 10M-page-view
# fixture's database, and (site, ts) would repeat the site in every entry.
_EVENTS_INDEX = """
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
DROP INDEX IF EXISTS events_scan;
DROP INDEX IF EXISTS events_site_ts;
"""
# The column store (storage.columnstore) copies new per-event rows by rowid
# and visits by touched_ms; a row changed in place (a recompute, a migration)
# moves `events_generation`, and the copy is built again.
_COPY_MARKS = """
INSERT OR IGNORE INTO meta(key, value) VALUES ('events_generation', 0);
CREATE TRIGGER IF NOT EXISTS events_changed AFTER UPDATE ON events BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'events_generation'; END;
CREATE TRIGGER IF NOT EXISTS visits_changed AFTER UPDATE ON visits BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'events_generation'; END;
"""
_AGG_INSERT = f"INSERT INTO agg(site, gran, bucket, dim, val, {', '.join(METRIC_COLUMNS)})"
_AGG_CONFLICT = "ON CONFLICT(site, gran, bucket, dim, val) DO UPDATE SET " + ", ".join(
    f"{c} = {c} + excluded.{c}" for c in METRIC_COLUMNS
)
_UPSERT_AGG = (
    f"{_AGG_INSERT} VALUES (?,?,?,?,?,{','.join('?' * len(METRIC_COLUMNS))}) {_AGG_CONFLICT}"
)
INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
BUSY_TIMEOUT_MS = 5000
# What the WAL keeps of its file when it starts over: about what 1000 pages
# (SQLite's automatic checkpoint) take, so small flushes do not regrow it.
WAL_KEEP_BYTES = 4 << 20
# How long truncating the WAL waits for readers on older snapshots.
TRUNCATE_WAIT_MS = 100
# Rows per multi-row INSERT statement (see _bulk).
BULK_ROWS = 256


def _bulk(
    c: sqlite3.Connection, head: str, ncols: int, rows: Iterable[Sequence[object]], tail: str = ""
) -> None:
    """Insert rows BULK_ROWS at a time, with multi-row VALUES statements.

    Row-by-row executemany releases and retakes the GIL for every row; while
    the event loop keeps the GIL busy each retake waits a whole switch
    interval, which made large flushes crawl. One statement per BULK_ROWS rows
    retakes it BULK_ROWS times less often.
    """
    one = "(" + ",".join("?" * ncols) + ")"
    full = f"{head} VALUES {','.join([one] * BULK_ROWS)} {tail}"
    it = iter(rows)
    while chunk := list(islice(it, BULK_ROWS)):
        params = list(chain.from_iterable(chunk))  # flattened in C, not row by row
        n = len(chunk)
        c.execute(full if n == BULK_ROWS else f"{head} VALUES {','.join([one] * n)} {tail}", params)


_UPSERT_REVENUE = (
    "INSERT INTO revenue VALUES (?,?,?,?,?,?,?,?) "
    "ON CONFLICT(site, gran, bucket, dim, val, currency) DO UPDATE SET "
    "amount_micros = amount_micros + excluded.amount_micros, n = n + excluded.n"
)
_UPSERT_ENGAGEMENT = (
    "INSERT INTO engagement VALUES (?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT(site, gran, bucket, dim, val) DO UPDATE SET "
    "engaged_ms = engaged_ms + excluded.engaged_ms, "
    "scroll_sum = scroll_sum + excluded.scroll_sum, scroll_n = scroll_n + excluded.scroll_n, "
    "visits = visits + excluded.visits"
)
_SESSION_COLUMNS = (
    "id, site, visitor, alias, start_ms, end_ms, start_hour, start_day, entry, entry_ms, "
    "exit, exit_ms, pageviews, events, conversions, touched_ms, first_visits, "
    + ", ".join(_DIM_COLUMNS)
)


def _connect(path: str, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # Pages freed by pruning per-event rows go back to the file system
            # (incremental_vacuum after each prune), so the file shrinks rather
            # than only being reused. It takes effect only on a new database
            # (before WAL mode and the first table); older ones keep reusing.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # Every commit is copied into the database file at once (a
            # passive checkpoint; SQLite's default waits for 1000 pages,
            # 4 MB). So the WAL never holds committed pages the file does
            # not: when the disk fills up, moving them over needs no space
            # (it would, and there is none), and a failed flush's pages can
            # be truncated away. Costs ~15% of a 1,000-event flush's time.
            conn.execute("PRAGMA wal_autocheckpoint=1")
            # A WAL file stays at its largest size (a big catch-up flush makes
            # it tens of MB); each time it starts over, it is cut back to this.
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as e:
        raise StatsStoreError(f"cannot open {path}: {e}") from e
    return conn


def connect_readonly(path: str) -> sqlite3.Connection:
    return _connect(path, readonly=True)


def connect_writable(path: str) -> sqlite3.Connection:
    """A write connection besides the aggregator's (the import command):
    same WAL, durability and busy timeout."""
    return _connect(path, readonly=False)


class StatsDB:
    """Owner of the write connection (the aggregator's)."""

    def __init__(self, data_dir: str, max_values_per_day: int = 0) -> None:
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, FILENAME)
        self.conn = _connect(self.path, readonly=False)
        # Distinct values per dimension, site and day with rows of their own
        # (core.value_cap); the admitted ones are read back from the rows.
        self.cap = ValueCap(max_values_per_day)
        self.folded_values = 0  # since start: values whose rows went to (other)
        self.visit_dims = visitdims.VisitDims()
        self.runs = run_log.RunLog()
        try:
            self.conn.executescript(SCHEMA)
            self.conn.executescript(run_log.SCHEMA)
            self.conn.executescript(visitdims.SCHEMA)
            visitdims.migrate(self.conn)
            self.conn.executescript(_EVENTS_INDEX)
            self.conn.executescript(_COPY_MARKS)
            self._migrate_site_hours()
            if self.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
                # What a migration freed (an old table or index) goes back now.
                self.conn.executescript("PRAGMA incremental_vacuum;")
            self.conn.executemany(
                "INSERT OR REPLACE INTO dims(code, name) VALUES (?, ?)",
                [(c, n or "(site totals)") for c, n in DIMENSIONS.items()],
            )
            self._migrate_v1()
            self._add_engagement_visits()
            self._build_rollups()
            self._migrate_plausible_values()
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot create schema in {self.path}: {e}") from e

    def _migrate_v1(self) -> None:
        """Carry the first version's totals over (site/day, site/hour, paths)."""
        c = self.conn
        old = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "site_day" not in old:
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            rows: list[tuple[object, ...]] = []
            for site, day, pv, ev, vis in c.execute("SELECT * FROM site_day").fetchall():
                rows.append((site, DAY, day_number(day), SITE, "", vis, 0, pv, ev, 0, 0, 0, 0))
            for site, hour, pv, ev in c.execute("SELECT * FROM site_hour").fetchall():
                h = day_number(hour[:10]) * 24 + int(hour[11:13])
                rows.append((site, HOUR, h, SITE, "", 0, 0, pv, ev, 0, 0, 0, 0))
            for site, day, path, pv in c.execute("SELECT * FROM site_day_path").fetchall():
                rows.append((site, DAY, day_number(day), PAGE, path, 0, 0, pv, pv, 0, 0, 0, 0))
            c.executemany(_UPSERT_AGG, rows)
            for table in ("site_day", "site_hour", "site_day_path", "day_visitor"):
                c.execute(f"DROP TABLE IF EXISTS {table}")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _add_engagement_visits(self) -> None:
        """Engagement rows written before they counted engaged visit-pages get
        the column at 0: their engaged time has no divisor, so time on page
        counts from the upgrade on (scroll depth is whole either way)."""
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(engagement)")}
        if "visits" not in cols:
            self.conn.execute("ALTER TABLE engagement ADD COLUMN visits INTEGER NOT NULL DEFAULT 0")

    def _build_rollups(self) -> None:
        """Databases from before WEEK and MONTH rows get them once, from their DAY rows."""
        c = self.conn
        if self.meta("week_rows"):
            return
        c.create_function("month_of", 1, month_of, deterministic=True)
        c.create_function("week_of", 1, week_of, deterministic=True)
        cols = ", ".join(f"sum({m})" for m in METRIC_COLUMNS)
        c.execute("BEGIN IMMEDIATE")
        try:
            for gran, fn in ((MONTH, "month_of"), (WEEK, "week_of")):
                c.execute("DELETE FROM agg WHERE gran = ?", (gran,))
                c.execute("DELETE FROM revenue WHERE gran = ?", (gran,))
                c.execute(
                    f"{_AGG_INSERT} SELECT site, {gran}, {fn}(bucket) AS b, dim, val, {cols} "
                    "FROM agg WHERE gran = ? GROUP BY site, b, dim, val",
                    (DAY,),
                )
                c.execute(
                    f"INSERT INTO revenue SELECT site, {gran}, {fn}(bucket) AS b, dim, val, "
                    "currency, sum(amount_micros), sum(n) FROM revenue WHERE gran = ? "
                    "GROUP BY site, b, dim, val, currency",
                    (DAY,),
                )
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('week_rows', 1)")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _migrate_plausible_values(self) -> None:
        """Databases written before Plausible's dimension values get them once.

        In one transaction, at open (before the first flush), marked done in
        `meta` (`plausible_values`), so it runs once and a crash leaves it
        undone, never half done. Stored values are rewritten rather than
        mapped at the edges: every filter (`contains`, `matches`, wildcards)
        and both engines then see one spelling, and the per-event rows and
        the rollups keep agreeing.

        1. Values: channels ("organic" → "Organic Search"), devices
           ("desktop" → "Desktop"), "macOS" → "Mac", "Linux" → "GNU/Linux",
           browser names, versions cut to major.minor, referrers without a
           trailing slash; in the rollups and in the visits. Rows that come
           to share a value are summed: exact for browsers, OSes and devices
           (a visitor has one of each per day, core.dimensions), and for
           referrers as long as no visitor came from both spellings of one
           page in one hour or day.
        2. The empty value's rows (the "(not set)" / "Direct / None" rows,
           core.dimensions.EMPTY_LABELS), which earlier versions did not keep,
           for every hour and day with visits, from the totals: the visits,
           page views, events, bounces, durations and conversions of visits
           without a value are all visits' (the channel rows: every visit has
           one) less those with one, exactly. So are the unique visitors of a
           browser, OS or device: a visitor has one per day, so the site's
           visitors less those with a value. For the referrer and UTM values
           a visitor may have visits with and without one, so the site's
           visitors less those with a value is a lower bound, and what these
           old rows get (new rows count it exactly, as they go). WEEK and
           MONTH rows are the sums of their DAY rows, as always.
        """
        c = self.conn
        if self.meta("plausible_values"):
            return
        c.create_function("plausible_value", 2, plausible_value, deterministic=True)
        c.create_function("month_of", 1, month_of, deterministic=True)
        c.create_function("week_of", 1, week_of, deterministic=True)
        metrics = ", ".join(METRIC_COLUMNS)
        sums = ", ".join(f"sum({m})" for m in METRIC_COLUMNS)
        renamed = ",".join(str(d) for d in _RENAMED_DIMS)
        labelled = sorted(EMPTY_LABELS)
        visit_metrics = [m for m in METRIC_COLUMNS if m != "visitors"]
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                f"CREATE TEMP TABLE moved AS SELECT site, gran, bucket, dim, "
                f"plausible_value(dim, val) AS val, {metrics} FROM agg "
                f"WHERE dim IN ({renamed}) AND plausible_value(dim, val) != val"
            )
            c.execute(
                f"DELETE FROM agg WHERE dim IN ({renamed}) AND plausible_value(dim, val) != val"
            )
            c.execute(
                f"{_AGG_INSERT} SELECT site, gran, bucket, dim, val, {sums} FROM moved "
                f"WHERE 1 GROUP BY site, gran, bucket, dim, val {_AGG_CONFLICT}"
            )
            c.execute("DROP TABLE moved")
            dims_values = ",".join(f"({d})" for d in labelled)
            t_cols = ", ".join(f"sum({m}) AS {m}" for m in visit_metrics)
            empty = ", ".join(
                f"max(0, coalesce(t.{m}, 0) - coalesce(d.{m}, 0))" for m in visit_metrics
            )
            c.execute(
                f"""INSERT OR REPLACE INTO agg(site, gran, bucket, dim, val, visitors,
                    {", ".join(visit_metrics)})
                WITH b AS (SELECT DISTINCT site, gran, bucket FROM agg
                           WHERE gran IN ({HOUR}, {DAY}) AND dim BETWEEN 3 AND 21),
                     labelled(dim) AS (VALUES {dims_values}),
                     t AS (SELECT site, gran, bucket, {t_cols} FROM agg
                           WHERE gran IN ({HOUR}, {DAY}) AND dim = 4 GROUP BY 1, 2, 3),
                     s AS (SELECT site, gran, bucket, visitors FROM agg
                           WHERE gran IN ({HOUR}, {DAY}) AND dim = {SITE} AND val = ''),
                     d AS (SELECT site, gran, bucket, dim, sum(visitors) AS visitors, {t_cols}
                           FROM agg WHERE gran IN ({HOUR}, {DAY}) AND val != ''
                           AND dim IN ({",".join(map(str, labelled))}) GROUP BY 1, 2, 3, 4)
                SELECT b.site, b.gran, b.bucket, labelled.dim, '',
                    max(0, coalesce(s.visitors, 0) - coalesce(d.visitors, 0)), {empty}
                FROM b CROSS JOIN labelled
                LEFT JOIN t ON t.site = b.site AND t.gran = b.gran AND t.bucket = b.bucket
                LEFT JOIN s ON s.site = b.site AND s.gran = b.gran AND s.bucket = b.bucket
                LEFT JOIN d ON d.site = b.site AND d.gran = b.gran AND d.bucket = b.bucket
                    AND d.dim = labelled.dim"""
            )
            c.execute(
                f"DELETE FROM agg WHERE val = '' AND dim IN ({','.join(map(str, labelled))}) "
                f"AND {' AND '.join(f'{m} = 0' for m in METRIC_COLUMNS)}"
            )
            for gran, fn in ((MONTH, "month_of"), (WEEK, "week_of")):
                c.execute(
                    f"INSERT OR REPLACE INTO agg(site, gran, bucket, dim, val, {metrics}) "
                    f"SELECT site, {gran}, {fn}(bucket) AS b, dim, '', {sums} FROM agg "
                    f"WHERE gran = {DAY} AND val = '' AND dim IN ({','.join(map(str, labelled))}) "
                    "GROUP BY site, b, dim"
                )
            _remap_visit_dims(c)
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('plausible_values', 1)")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def last_seq(self) -> int:
        return self.meta("last_seq") or 0

    def meta(self, key: str) -> int | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def truncate_wal(self) -> None:
        """Copy the WAL into the database and cut it to nothing. A failed
        flush leaves its pages in the WAL file (SQLite reuses them, but never
        gives them back), holding the disk space a smaller flush would need.
        Waits for readers only briefly: a reader on an older snapshot makes
        it a partial checkpoint, which is all right."""
        c = self.conn
        try:
            c.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
            try:
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot truncate the WAL of {self.path}: {e}") from e

    def flush(self, batch: FlushBatch, now_ms: int) -> None:
        """Write one batch and its `last_seq`, atomically, with its run."""
        c = self.conn
        started = time.monotonic()  # the run's duration; its start is `now_ms`
        run = Run(now_ms, 0, FLUSH, OK, events=batch.n_events, last_seq=batch.last_seq)
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                changes = c.total_changes
                folded = self._fold(c, batch)
                engagement = self.cap.fold_engagement(batch.engagement, folded)
                self._write_batch(
                    c, replace(batch, buckets=folded.buckets, engagement=engagement), now_ms
                )
                if faults.fails("flush.error"):
                    raise sqlite3.OperationalError("disk I/O error (failpoint flush.error)")
                run = _took(run, started, rows=c.total_changes - changes)
                run = msgspec.structs.replace(run, folded=folded.folded_values)
                self.runs.insert(c, run)
                faults.hit("flush.before_commit")
                c.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back by itself (a full disk does):
                # roll back only what is still open, so the error reported is
                # the real one, not "cannot rollback - no transaction is active".
                if c.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        c.execute("ROLLBACK")
                self.visit_dims.rollback()
                raise
            self.visit_dims.committed()
            self.runs.committed(run)
            self.cap.admit(folded)
            self.folded_values += folded.folded_values
            faults.hit("flush.after_commit")
        except sqlite3.Error as e:
            self.runs.record(c, failed(_took(run, started), str(e)))
            raise StatsStoreError(f"flush to {self.path} failed: {e}") from e

    def log_run(self, run: Run) -> None:
        """Log a run that is not a flush (a prune), best effort (storage.run_log)."""
        self.runs.record(self.conn, run)

    def _fold(self, c: sqlite3.Connection, batch: FlushBatch) -> Folded:
        """The batch's rows under the distinct-values cap, the admitted
        values of its days read from their DAY rows where not known yet
        (inside the flush's transaction: what it reads is what it adds to)."""
        keys = chain(batch.buckets, (k[:3] for k in batch.engagement))
        for site, day in self.cap.missing(keys):
            rows = c.execute(
                "SELECT dim, val FROM agg WHERE site = ? AND gran = ? AND bucket = ?",
                (site, DAY, day),
            )
            self.cap.load(site, day, rows)
        return self.cap.fold(batch.buckets)

    def _write_batch(self, c: sqlite3.Connection, batch: FlushBatch, now_ms: int) -> None:
        _bulk(c, _AGG_INSERT, 13, batch.flat_rows(), _AGG_CONFLICT)
        c.executemany(_UPSERT_REVENUE, batch.revenue_rows())
        c.executemany(_UPSERT_ENGAGEMENT, batch.engagement_rows())
        ids = self.visit_dims.ids(c, (s.dims for s, _ in batch.sessions))
        vd_of = {s.sid: ids[s.dims] for s, _ in batch.sessions}
        visitdims.event_vds(c, (e.session for e in batch.events), vd_of)
        _bulk(c, "INSERT INTO events", 13, ((*e, vd_of.get(e.session)) for e in batch.events))
        _bulk(
            c,
            visitdims.VISIT_INSERT,
            visitdims.N_VISIT_COLUMNS,
            (_session_row(s, k, vd_of[s.sid]) for s, k in batch.sessions),
        )
        c.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
            [("last_seq", batch.last_seq), ("watermark_ms", batch.watermark_ms)],
        )
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_flush_ms', ?)", (now_ms,))

    def prune(
        self, before_ms: int, hours_before_ms: int | None = None, runs_before_ms: int | None = None
    ) -> int:
        """Drop per-event rows and visits older than the retention horizon,
        hour rollup rows older than `hours_before_ms` (None: keep them) and
        logged runs older than `runs_before_ms`; how many per-event rows went."""
        c = self.conn
        try:
            if hours_before_ms is not None:
                self._prune_hours(c, hours_before_ms)
            n = c.execute("DELETE FROM events WHERE ts < ?", (before_ms,)).rowcount
            c.execute("DELETE FROM visits WHERE touched_ms < ?", (before_ms,))
            c.execute(  # for the column store's copy (storage.columnstore)
                "INSERT INTO meta(key, value) VALUES ('pruned_before_ms', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (before_ms,),
            )
            self.visit_dims.prune(c)
            if runs_before_ms is not None:
                run_log.prune(c, runs_before_ms)
            if c.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
                # Each step frees one page and execute() steps once;
                # executescript runs the statement to the end.
                c.executescript("PRAGMA incremental_vacuum;")
        except sqlite3.Error as e:
            raise StatsStoreError(f"prune failed: {e}") from e
        return n

    def _migrate_site_hours(self) -> None:
        """Hour rows are the sites' totals only (core.batch.flat_rows): those
        of dimension values that earlier versions wrote go, once."""
        c = self.conn
        if c.execute("SELECT 1 FROM meta WHERE key = 'hour_rows_site_only'").fetchone():
            return
        with _immediate(c):
            for site in _sites(c, "agg"):
                c.execute(
                    "DELETE FROM agg WHERE site = ? AND gran = ? AND dim != ?", (site, HOUR, SITE)
                )
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('hour_rows_site_only', 1)")

    @staticmethod
    def _prune_hours(c: sqlite3.Connection, before_ms: int) -> None:
        """Hour rows of local hours a day or more before `before_ms` go (a
        day of slack for the sites' UTC offsets); `hour_rows_from_ms` tells
        queries from when on hourly points are whole. One transaction."""
        last_day = before_ms // 86_400_000 - 1
        with _immediate(c):
            for table in ("agg", "revenue", "engagement"):
                # Per site, a range of the primary key (site, gran, bucket, ...).
                for site in _sites(c, table):
                    c.execute(
                        f"DELETE FROM {table} WHERE site = ? AND gran = ? AND bucket < ?",
                        (site, HOUR, last_day * 24),
                    )
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('hour_rows_from_ms', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (before_ms,),
            )

    def open_sessions(self, since_ms: int, limit: int = -1) -> list[tuple[Session, Contribution]]:
        """Visits that may still grow (added to at or after `since_ms`), each
        with what it added to the rows when it was flushed; at most `limit`
        (-1: all), the most recently added to first."""
        try:
            rows = self.conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE touched_ms >= ? "
                "ORDER BY touched_ms DESC LIMIT ?",
                (since_ms, limit),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot load sessions: {e}") from e
        return [_session_of(r) for r in rows]

    def open_session_ids(self, since_ms: int, skip: int) -> list[tuple[str, str]]:
        """(site, visitor id) of every id of the visits `open_sessions` left
        out past its limit: the memory budget remembers them as evicted."""
        try:
            rows = self.conn.execute(
                "SELECT site, visitor, alias FROM sessions WHERE touched_ms >= ? "
                "ORDER BY touched_ms DESC LIMIT -1 OFFSET ?",
                (since_ms, skip),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot load sessions: {e}") from e
        out = [(str(site), visitor_hex(int(v))) for site, v, _ in rows]
        out += [(str(site), visitor_hex(int(a))) for site, _, a in rows if a is not None]
        return out

    def sessions_of(
        self, site: str, visitors: Sequence[str], since_ms: int
    ) -> list[tuple[Session, Contribution]]:
        """The visits of these visitor ids (own or alias) that may still grow:
        visits the aggregation evicted under its memory budget, read back."""
        ids = [visitor_int(v) for v in visitors]
        marks = ",".join("?" * len(ids))
        try:
            rows = self.conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE site = ? AND touched_ms >= ? "
                f"AND (visitor IN ({marks}) OR alias IN ({marks})) ORDER BY touched_ms",
                (site, since_ms, *ids, *ids),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot load sessions: {e}") from e
        return [_session_of(r) for r in rows]

    def bucket_marks(self, site: str, gran: int, bucket: int, tz_name: str) -> set[int]:
        """The unique-visitor marks of a flushed hour or day, recounted from its events."""
        return self.bucket_recount(site, gran, bucket, tz_name)[0]

    def bucket_recount(
        self, site: str, gran: int, bucket: int, tz_name: str
    ) -> tuple[set[int], set[int]]:
        """The unique-visitor marks of a flushed hour or day, recounted from
        its events, and the visitors (visitor_int) they are of."""
        day = bucket // 24 if gran == HOUR else bucket
        start, end = day_range_ms(day, tz_name)
        try:
            rows = self.conn.execute(
                "SELECT e.ts, e.visitor, e.name, e.path, e.props, e.goals, "
                + ", ".join(f"s.{c}" for c in _DIM_COLUMNS)
                + " FROM events e JOIN sessions s ON s.id = e.session "
                "WHERE e.site = ? AND e.ts >= ? AND e.ts < ?",
                (site, start, end),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot recount visitors: {e}") from e
        marks: set[int] = set()
        visitors: set[int] = set()
        decode = msgspec.json.decode
        for ts, visitor, name, path, props, goals, *dims in rows:
            hour, d = buckets(ts, tz_name)
            if (hour if gran == HOUR else d) != bucket:
                continue
            visitors.add(visitor)
            pairs = event_pairs(
                name == "pageview",
                path,
                decode(goals) if goals else (),
                decode(props).items() if props else (),
            )
            pairs += split_pairs(tuple(dims))[1]  # visitor-constant dims keep no marks
            vis = visitor_hex(visitor)
            marks.update(m for m, g, *_ in visitor_marks(hour, d, vis, pairs) if g == gran)
        return marks, visitors


def _took(run: Run, started: float, rows: int = 0) -> Run:
    ms = round((time.monotonic() - started) * 1000)
    return msgspec.structs.replace(run, duration_ms=ms, rows=rows)


_RENAMED_DIMS = (
    4,
    5,
    11,
    12,
    13,
    14,
    15,
)  # channel, referrer, browser (version), os (version), device


def _joined_value(names: dict[str, str], value: str) -> str:
    name, _, version = value.partition(SEP)
    name = names.get(name, name)
    if not version or name == MOBILE_APP:  # an app's web view has no version
        return ""
    return f"{name}{SEP}{major_minor(version)}"


def plausible_value(dim: int, value: str) -> str:
    """A value written by an earlier version, as this one writes it (the
    migration's SQL function; core.dimensions maps records the same way)."""
    if dim == 4:
        return LEGACY_CHANNELS.get(value, value)
    if dim == 5:
        return value.rstrip("/")
    if dim == 11:
        return LEGACY_BROWSERS.get(value, value)
    if dim == 12:
        return _joined_value(LEGACY_BROWSERS, value)
    if dim == 13:
        return LEGACY_OSES.get(value, value)
    if dim == 14:
        return _joined_value(LEGACY_OSES, value)
    if dim == 15:
        return LEGACY_DEVICES.get(value, value)
    return value


def _remap_visit_dims(c: sqlite3.Connection) -> None:
    """The visits' dimension combinations with this version's values. Two
    old combinations can become one ("macOS 10.15.6" and "10.15.7" are both
    "Mac 10.15"), and a combination is stored once, so the new ones are
    inserted, the visits and per-event rows moved to them, and the old ones
    dropped (inside the caller's transaction)."""
    cols = [f"d_{name.split(':', 1)[1]}" for _, name in SESSION_DIMS]
    moved = ", ".join(
        f"plausible_value({code}, {col}) AS {col}" if code in _RENAMED_DIMS else col
        for (code, _), col in zip(SESSION_DIMS, cols, strict=True)
    )
    names = ", ".join(cols)
    same = " AND ".join(f"v.{col} = m.{col}" for col in cols)
    c.execute(f"CREATE TEMP TABLE vd_moved AS SELECT id AS old, {moved} FROM visit_dims")
    c.execute(f"INSERT OR IGNORE INTO visit_dims({names}) SELECT {names} FROM vd_moved")
    c.execute(
        "CREATE TEMP TABLE vd_map AS SELECT m.old AS old, v.id AS new "
        f"FROM vd_moved m JOIN visit_dims v ON {same} WHERE v.id != m.old"
    )
    for table in ("visits", "events"):
        c.execute(
            f"UPDATE {table} SET vd = (SELECT new FROM vd_map WHERE old = {table}.vd) "
            "WHERE vd IN (SELECT old FROM vd_map)"
        )
    c.execute("DELETE FROM visit_dims WHERE id IN (SELECT old FROM vd_map)")
    c.execute("DROP TABLE vd_moved")
    c.execute("DROP TABLE vd_map")


@contextlib.contextmanager
def _immediate(c: sqlite3.Connection) -> Iterator[None]:
    """One write transaction around the block: committed when it ends,
    rolled back when it raises."""
    c.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")


def _sites(c: sqlite3.Connection, table: str) -> list[str]:
    """The sites with rows in a table whose index leads with the site, by
    one index seek per site (a DISTINCT would read every row: minutes on a
    big database)."""
    return [
        r[0]
        for r in c.execute(
            f"WITH RECURSIVE s(site) AS (SELECT min(site) FROM {table} UNION ALL "
            f"SELECT (SELECT min(site) FROM {table} WHERE site > s.site) FROM s "
            "WHERE s.site IS NOT NULL) SELECT site FROM s WHERE site IS NOT NULL"
        )
    ]


def _session_row(s: Session, c: Contribution, vd: int) -> tuple[object, ...]:
    return (
        s.sid,
        s.site,
        visitor_int(s.visitor),
        visitor_int(s.alias) if s.alias else None,
        s.start_ms,
        s.end_ms,
        c.hour,
        c.day,
        s.entry,
        s.entry_ms,
        s.exit,
        s.exit_ms,
        s.pageviews,
        s.events,
        s.conversions,
        s.touched_ms,
        s.first_visits,
        vd,
    )


def _session_of(r: tuple[object, ...]) -> tuple[Session, Contribution]:
    (sid, site, visitor, alias, start, end, hour, day, entry, entry_ms, exit_, exit_ms) = r[:12]
    pageviews, events, conversions, touched, first_visits = r[12:17]
    s = Session(
        sid=int(sid),  # type: ignore[call-overload]
        site=str(site),
        visitor=visitor_hex(int(visitor)),  # type: ignore[call-overload]
        start_ms=int(start),  # type: ignore[call-overload]
        end_ms=int(end),  # type: ignore[call-overload]
        dims=shared_dims(tuple(str(d) for d in r[17:])),
        entry=str(entry),
        entry_ms=int(entry_ms),  # type: ignore[call-overload]
        exit=str(exit_),
        exit_ms=int(exit_ms),  # type: ignore[call-overload]
        pageviews=int(pageviews),  # type: ignore[call-overload]
        events=int(events),  # type: ignore[call-overload]
        conversions=int(conversions),  # type: ignore[call-overload]
        alias=visitor_hex(int(alias)) if alias is not None else "",  # type: ignore[call-overload]
        touched_ms=int(touched),  # type: ignore[call-overload]
        first_visits=int(first_visits),  # type: ignore[call-overload]
    )
    return s, contribution_at(s, int(hour), int(day))  # type: ignore[call-overload]


class StatsReader:
    """A read connection for queries (stats endpoint, status)."""

    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self.conn = _connect(self.path, readonly=True)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> int | None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise StatsStoreError(f"query failed: {e}") from e
        return int(row[0]) if row else None

    def day_stats(self, site_id: str, day: str, top: int = 10) -> DayStats | None:
        d = day_number(day)
        try:
            row = self.conn.execute(
                "SELECT pageviews, visitors, visits, bounces, duration_ms FROM agg "
                "WHERE site = ? AND gran = ? AND bucket = ? AND dim = ? AND val = ''",
                (site_id, DAY, d, SITE),
            ).fetchone()
            bots = self.conn.execute(
                "SELECT pageviews FROM agg "
                "WHERE site = ? AND gran = ? AND bucket = ? AND dim = ? AND val = ''",
                (site_id, DAY, d, BOTS),
            ).fetchone()
            if row is None and bots is None:
                return None
            row = row or (0, 0, 0, 0, 0)
            paths = self.conn.execute(
                "SELECT val, pageviews FROM agg WHERE site = ? AND gran = ? AND bucket = ? "
                "AND dim = ? AND pageviews > 0 ORDER BY pageviews DESC, val ASC LIMIT ?",
                (site_id, DAY, d, PAGE, top),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"query failed: {e}") from e
        return DayStats(
            site_id,
            day,
            int(row[0]),
            int(row[1]),
            [(str(p), int(n)) for p, n in paths],
            visits=int(row[2]),
            bounces=int(row[3]),
            duration_ms=int(row[4]),
            bot_pageviews=int(bots[0]) if bots else 0,
        )
