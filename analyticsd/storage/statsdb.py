"""The SQLite statistics store.

Invariants:
* Every flush is one `BEGIN IMMEDIATE` transaction that adds the deltas with
  upserts and records `last_seq`, the highest spool sequence they cover. The
  aggregator resumes after `last_seq` on start, which is what makes counting
  exactly-once across crashes.
* `synchronous=FULL`: a flush is durable before the spool may forget the
  records it covers.
* Only salted visitor hashes are stored, never an IP or a user agent.

Methods are blocking; callers run each in one `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import os
import sqlite3

from analyticsd.core import faults
from analyticsd.core.buckets import Deltas
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.messages import DayStats

FILENAME = "stats.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_day (
    site TEXT NOT NULL, day TEXT NOT NULL,
    pageviews INTEGER NOT NULL, events INTEGER NOT NULL, visitors INTEGER NOT NULL,
    PRIMARY KEY (site, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_hour (
    site TEXT NOT NULL, hour TEXT NOT NULL,
    pageviews INTEGER NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (site, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_day_path (
    site TEXT NOT NULL, day TEXT NOT NULL, path TEXT NOT NULL,
    pageviews INTEGER NOT NULL,
    PRIMARY KEY (site, day, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_visitor (
    site TEXT NOT NULL, day TEXT NOT NULL, visitor TEXT NOT NULL,
    PRIMARY KEY (site, day, visitor)) WITHOUT ROWID;
"""


def _connect(path: str, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
    except sqlite3.Error as e:
        raise StatsStoreError(f"cannot open {path}: {e}") from e
    return conn


class StatsDB:
    """Owner of the write connection (the aggregator's)."""

    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, FILENAME)
        self.conn = _connect(self.path, readonly=False)
        try:
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot create schema in {self.path}: {e}") from e

    def close(self) -> None:
        self.conn.close()

    def last_seq(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def flush(self, deltas: Deltas, now_ms: int) -> None:
        """Add `deltas` and record their `last_seq`, atomically."""
        c = self.conn
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                self._apply(c, deltas)
                c.execute(
                    "INSERT INTO meta(key, value) VALUES ('last_seq', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                    (deltas.last_seq,),
                )
                c.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_flush_ms', ?)", (now_ms,)
                )
                faults.hit("flush.before_commit")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            faults.hit("flush.after_commit")
        except sqlite3.Error as e:
            raise StatsStoreError(f"flush failed: {e}") from e

    @staticmethod
    def _apply(c: sqlite3.Connection, d: Deltas) -> None:
        for (site, day), agg in d.days.items():
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO day_visitor(site, day, visitor) VALUES (?, ?, ?)",
                [(site, day, v) for v in agg.visitors],
            )
            new_visitors = c.total_changes - before
            c.execute(
                "INSERT INTO site_day(site, day, pageviews, events, visitors) VALUES (?,?,?,?,?) "
                "ON CONFLICT(site, day) DO UPDATE SET pageviews = pageviews + excluded.pageviews, "
                "events = events + excluded.events, visitors = visitors + excluded.visitors",
                (site, day, agg.counts.pageviews, agg.counts.events, new_visitors),
            )
            c.executemany(
                "INSERT INTO site_day_path(site, day, path, pageviews) VALUES (?,?,?,?) "
                "ON CONFLICT(site, day, path) DO UPDATE "
                "SET pageviews = pageviews + excluded.pageviews",
                [(site, day, p, n) for p, n in agg.paths.items()],
            )
        c.executemany(
            "INSERT INTO site_hour(site, hour, pageviews, events) VALUES (?,?,?,?) "
            "ON CONFLICT(site, hour) DO UPDATE SET pageviews = pageviews + excluded.pageviews, "
            "events = events + excluded.events",
            [(s, h, n.pageviews, n.events) for (s, h), n in d.hours.items()],
        )


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
        try:
            row = self.conn.execute(
                "SELECT pageviews, visitors FROM site_day WHERE site = ? AND day = ?",
                (site_id, day),
            ).fetchone()
            if row is None:
                return None
            paths = self.conn.execute(
                "SELECT path, pageviews FROM site_day_path WHERE site = ? AND day = ? "
                "ORDER BY pageviews DESC, path ASC LIMIT ?",
                (site_id, day, top),
            ).fetchall()
        except sqlite3.Error as e:
            raise StatsStoreError(f"query failed: {e}") from e
        return DayStats(
            site_id, day, int(row[0]), int(row[1]), [(str(p), int(n)) for p, n in paths]
        )
