"""Per-event rows in a column store: an embedded DuckDB file beside SQLite.

Why: questions that read per-event rows (several filters, `!=`, `|`,
entry/exit visitors, custom metrics, funnels, retention) scan a month of
events. SQLite does that a row at a time; on the benchmark fixture it took
4-26x as long as DuckDB on the same rows (bench/perevent.py), while the
rollup questions are faster in SQLite than any scan. So the rollups stay in
SQLite and per-event questions read a columnar copy of the per-event rows.

Exactly-once is SQLite's: its per-event rows commit with the spool position
(storage.statsdb), and this file is only a copy of them. Before a question
reads it, `sync` brings it up to SQLite's last commit (new events by rowid,
visits touched since, prunes by the horizon SQLite recorded), in one DuckDB
transaction that also records how far it got. Whatever SQLite changes in
place (a recompute, a migration: `events_generation`), or a copy that cannot
be read, means the copy is built again from SQLite. The file is never backed
up, exported or restored: deleting it loses nothing.

It costs nothing until the first per-event question: the module, its memory
(`storage.column_memory_mb`) and the file come with it. When the copy
cannot be brought up to date (a full disk, a damaged file), the question is
answered from SQLite's rows instead, more slowly (storage.queries).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.visitdims import DIM_COLUMNS, VISIT_COLUMNS

log = logging.getLogger("analyticsd.columnstore")

FILENAME = "events.duckdb"
# Visits whose touched_ms is this close to the newest one seen are read
# again on each sync: a flush commits visits touched a little before the
# newest of an earlier flush (records wait in the batch for up to a flush).
VISIT_SLACK_MS = 3_600_000
# After a failed sync (no memory, a full disk), questions go to SQLite's
# rows for this long before the copy is tried again: each try costs time.
RETRY_AFTER_S = 60.0
_BATCH = 10_000  # rows per file handed to DuckDB's reader (its memory while loading)

_EVENT_COLUMNS = (
    ("rid", "BIGINT"),
    ("site", "VARCHAR"),
    ("ts", "BIGINT"),
    ("session", "BIGINT"),
    ("visitor", "BIGINT"),
    ("name", "VARCHAR"),
    ("path", "VARCHAR"),
    ("props", "VARCHAR"),
    ("goals", "VARCHAR[]"),
    ("revenue_micros", "BIGINT"),
    ("currency", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("vd", "BIGINT"),
)
# The column store's events carry their visit's dimensions: a filter or a
# group by one reads a column instead of joining (compressed runs of a few
# distinct values cost little on disk).
_EVENT_DIMS = tuple((c, "VARCHAR") for c in DIM_COLUMNS)
_TEXT_VISIT_COLUMNS = {"site", "entry", "exit"}
_VISIT_COLUMNS = tuple(
    (c, "VARCHAR" if c in _TEXT_VISIT_COLUMNS else "BIGINT")
    for c in (*(c.strip() for c in VISIT_COLUMNS.split(",")), "vd")
)
_DIMS_COLUMNS = (("id", "BIGINT"), *((c, "VARCHAR") for c in DIM_COLUMNS))
_TABLES = {
    "events": (*_EVENT_COLUMNS, *_EVENT_DIMS),
    "visits": _VISIT_COLUMNS,
    "visit_dims": _DIMS_COLUMNS,
}
_LOADED = {"events": _EVENT_COLUMNS, "visits": _VISIT_COLUMNS, "visit_dims": _DIMS_COLUMNS}

_SQLITE_EVENTS = (
    "SELECT rowid, site, ts, session, visitor, name, path, props, goals, revenue_micros, "
    "currency, user_id, vd FROM events"
)
_SQLITE_VISITS = f"SELECT {', '.join(c for c, _ in _VISIT_COLUMNS)} FROM visits"
_SQLITE_DIMS = f"SELECT {', '.join(c for c, _ in _DIMS_COLUMNS)} FROM visit_dims"

# SQLite's `regexp` (storage.treesql) and exact percentile (storage.eventsql)
# as DuckDB macros: DuckDB's regexp_matches is RE2 too, unanchored, and
# takes the "(?i)" prefix as case-insensitive; quantile_cont interpolates
# between the closest ranks as core.answers.percentile does.
_MACROS = (
    "CREATE OR REPLACE MACRO regexp(p, v) AS "
    "coalesce(regexp_matches(CAST(v AS VARCHAR), p), false)",
    "CREATE OR REPLACE MACRO percentile_exact(v, p) AS quantile_cont(v, p / 100.0)",
)


class ColumnStoreError(StatsStoreError):
    """The copy could not be opened or brought up to date."""


class _State(msgspec.Struct, frozen=True):
    """How far the copy is: SQLite's state at the last sync."""

    generation: int = -1
    rid: int = 0  # the newest events rowid copied
    rid_ts: int = 0  # and its time: another row under that rowid is another table
    touched: int = 0  # the newest visits.touched_ms copied
    pruned: int = 0  # SQLite's prune horizon applied


class ColumnStore:
    """The DuckDB copy of one data directory's per-event rows.

    Thread-safe: syncs are serialised by a lock; each query engine reads
    through a cursor of its own (`cursor`), which sees the copy as of its
    statement's (or transaction's) start."""

    def __init__(self, data_dir: str, memory_mb: int = 64, threads: int = 0) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self.memory_mb = memory_mb
        self.threads = threads or (os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._db: Any = None
        self._state = _State()
        self.rebuilds = 0  # how many times the copy was built from SQLite
        self._retry_at = 0.0  # monotonic time before which sync does not try

    # -- opening ---------------------------------------------------------------

    def _open(self) -> Any:
        if self._db is not None:
            return self._db
        import duckdb  # here: the module and its memory only once it is used

        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": f"{self.memory_mb}MB",
            "threads": self.threads,
            # Rows carry their rid and time; their order in the file is not
            # needed, and keeping it costs memory while loading.
            "preserve_insertion_order": False,
        }
        try:
            db = duckdb.connect(self.path, config=config)
        except duckdb.Error as e:
            # A damaged copy: SQLite has everything it held.
            log.warning("column store unreadable, building it again: %s", e)
            self._remove_files()
            try:
                db = duckdb.connect(self.path, config=config)
            except duckdb.Error as e2:
                raise ColumnStoreError(f"cannot open the column store: {e2}") from e2
        try:
            db.execute("SET integer_division = true")
            db.execute("CREATE TABLE IF NOT EXISTS state (key VARCHAR, value BIGINT)")
            for table, cols in _TABLES.items():
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} {t}' for c, t in cols)})"
                )
            dims = ", ".join(f"v.{c}" for c in DIM_COLUMNS)
            db.execute(
                f"CREATE OR REPLACE VIEW sessions AS SELECT x.*, {dims} "
                "FROM visits x JOIN visit_dims v ON v.id = x.vd"
            )
            for macro in _MACROS:
                db.execute(macro)
            kept = dict(db.execute("SELECT key, value FROM state").fetchall())
            fields = _State.__struct_fields__
            self._state = _State(**{k: v for k, v in kept.items() if k in fields})
        except duckdb.Error as e:
            db.close()
            raise ColumnStoreError(f"cannot open the column store: {e}") from e
        self._db = db
        return db

    def _remove_files(self) -> None:
        for suffix in ("", ".wal"):
            # What cannot be removed (a directory in its place) leaves the
            # second open failing: a ColumnStoreError, SQLite answers.
            with contextlib.suppress(OSError):
                os.unlink(self.path + suffix)

    def cursor(self) -> Any:
        """A connection of its own to the copy, set up as queries expect."""
        with self._lock:
            cur = self._open().cursor()
        cur.execute("SET integer_division = true")
        return cur

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- keeping up with SQLite -----------------------------------------------

    def sync(self, conn: sqlite3.Connection) -> None:
        """Bring the copy up to SQLite's last commit, as `conn` reads it
        (a read connection outside any transaction)."""
        import duckdb

        with self._lock:
            if time.monotonic() < self._retry_at:
                raise ColumnStoreError("the column store failed a moment ago; tried again soon")
            try:
                db = self._open()
            except ColumnStoreError:
                self._retry_at = time.monotonic() + RETRY_AFTER_S
                raise
            try:
                conn.execute("BEGIN")
                try:
                    self._sync(db, conn)
                finally:
                    conn.execute("ROLLBACK")
            except (duckdb.Error, sqlite3.Error, OSError) as e:
                with contextlib.suppress(duckdb.Error):
                    db.execute("ROLLBACK")
                self._retry_at = time.monotonic() + RETRY_AFTER_S
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ColumnStoreError(f"cannot bring the column store up to date: {first}") from e

    def _sync(self, db: Any, conn: sqlite3.Connection) -> None:
        meta = dict(
            conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('events_generation', 'pruned_before_ms')"
            ).fetchall()
        )
        rid, rid_ts = conn.execute(
            "SELECT rowid, ts FROM events WHERE rowid = (SELECT max(rowid) FROM events)"
        ).fetchone() or (0, 0)
        old = self._state
        if old.rid:
            row = conn.execute("SELECT ts FROM events WHERE rowid = ?", [old.rid]).fetchone()
            same_table = row is not None and int(row[0]) == old.rid_ts
        else:
            same_table = True
        touched = int(conn.execute("SELECT max(touched_ms) FROM visits").fetchone()[0] or 0)
        now = _State(
            generation=int(meta.get("events_generation", 0)),
            rid=int(rid),
            rid_ts=int(rid_ts),
            touched=touched,
            pruned=int(meta.get("pruned_before_ms", 0)),
        )
        if now == old and same_table:
            return
        db.execute("BEGIN")
        if now.generation != old.generation or not same_table:
            # Rows changed in place, or the copy's newest row is gone (a
            # table emptied by the prune starts its rowids again; a database
            # put back from a backup): the copy is built anew.
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")
            self._copy(db, "visit_dims", conn.execute(_SQLITE_DIMS))
            self._copy(db, "visits", conn.execute(_SQLITE_VISITS))
            self._copy(db, "events", conn.execute(_SQLITE_EVENTS))
            self.rebuilds += 1
        else:
            if now.pruned > old.pruned:  # what SQLite's prune dropped
                db.execute("DELETE FROM events WHERE ts < ?", [now.pruned])
                db.execute("DELETE FROM visits WHERE touched_ms < ?", [now.pruned])
            sessions = {
                int(s)
                for (s,) in conn.execute(
                    "SELECT DISTINCT session FROM events WHERE rowid > ?", [old.rid]
                )
            }
            visits = conn.execute(
                f"{_SQLITE_VISITS} WHERE touched_ms >= ?", [old.touched - VISIT_SLACK_MS]
            ).fetchall()
            seen = {int(v[0]) for v in visits}
            rest = sorted(sessions - seen)
            for i in range(0, len(rest), 500):
                part = rest[i : i + 500]
                marks = ",".join("?" * len(part))
                visits += conn.execute(f"{_SQLITE_VISITS} WHERE id IN ({marks})", part).fetchall()
            vd_at = len(_VISIT_COLUMNS) - 1
            vds = {int(v[vd_at]) for v in visits}
            dims: list[tuple[Any, ...]] = []
            ids = sorted(vds)
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                dims += conn.execute(f"{_SQLITE_DIMS} WHERE id IN ({marks})", part).fetchall()
            self._replace(db, "visits", visits)
            self._replace(db, "visit_dims", dims)
            self._copy(db, "events", conn.execute(f"{_SQLITE_EVENTS} WHERE rowid > ?", [old.rid]))
        db.execute("DELETE FROM state")
        db.executemany(
            "INSERT INTO state VALUES (?, ?)",
            [[k, getattr(now, k)] for k in _State.__struct_fields__],
        )
        db.execute("COMMIT")
        self._state = now

    def _replace(self, db: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of `table` (by id, its first column) as SQLite has them now."""
        if not rows:
            return
        ids = [r[0] for r in rows]
        db.execute(f"DELETE FROM {table} WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])
        self._copy(db, table, iter(rows))

    def _copy(self, db: Any, table: str, rows: Iterator[tuple[Any, ...]]) -> None:
        """Rows into `table` through a JSON-lines file DuckDB's reader loads
        (a fraction of the time row-by-row inserts take; JSON keeps NULL and
        the empty string apart, and goals arrive as the list they are)."""
        cols = _LOADED[table]
        names = [c for c, _ in cols]
        goals = names.index("goals") if "goals" in names else -1
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in cols) + "}"
        path = f"{self.path}.load.jsonl"
        enc = msgspec.json.Encoder()
        try:
            while True:
                batch = list(_take(rows, _BATCH))
                if not batch:
                    break
                with open(path, "wb") as f:
                    for r in batch:
                        values: list[Any] = list(r)
                        if goals >= 0 and values[goals] is not None:
                            values[goals] = msgspec.Raw(values[goals].encode())
                        f.write(enc.encode(dict(zip(names, values, strict=True))))
                        f.write(b"\n")
                rows_sql = (
                    f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns})"
                )
                if table == "events":  # with their visit's dimensions (loaded first)
                    dims = ", ".join(f"v.{c}" for c, _ in _EVENT_DIMS)
                    rows_sql = (
                        f"SELECT j.*, {dims} FROM ({rows_sql}) j "
                        "LEFT JOIN visit_dims v ON v.id = j.vd"
                    )
                db.execute(f"INSERT INTO {table} {rows_sql}", [path])
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _take(it: Iterator[tuple[Any, ...]], n: int) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        row = next(it, None)
        if row is None:
            return
        yield row
