"""The `runs` table: an audit of aggregation runs in the stats database.

Invariants:
* A flush's run row is inserted inside the flush's transaction
  (`RunLog.insert`, called by StatsDB.flush before COMMIT): a run says `ok`
  exactly when what it counted committed.
* A failed run (and a prune's) is logged best effort and never raises: in a small
  transaction of its own right after the failure, except when the disk is
  full (a commit then may leave pages in the WAL that the full database
  file cannot take, and the WAL could no longer be truncated to give the
  space back). Failures not written yet wait in memory (at most
  MAX_PENDING) and go into the next flush that commits.
* Rows older than `storage.run_log_retention_days` are deleted by the
  hourly retention prune.

Readers (`analyticsd runs`) open the database read-only; a database from
before the table existed reads as an empty log.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque

from analyticsd.core.errors import StatsStoreError
from analyticsd.core.runs import Run

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
    kind TEXT NOT NULL, outcome TEXT NOT NULL, events INTEGER NOT NULL,
    rows INTEGER NOT NULL, folded INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    error TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_ms);
"""
_COLUMNS = "started_ms, duration_ms, kind, outcome, events, rows, folded, last_seq, error"
_INSERT = f"INSERT INTO runs({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
# Failed runs kept in memory while they cannot be written (a full disk
# retried every interval: a few minutes of them); older ones are dropped.
MAX_PENDING = 100
_DISK_FULL = "disk is full"  # SQLite's SQLITE_FULL text


def _row(r: Run) -> tuple[object, ...]:
    return (
        r.started_ms, r.duration_ms, r.kind, r.outcome, r.events, r.rows, r.folded,
        r.last_seq, r.error,
    )  # fmt: skip


class RunLog:
    """The write side, on the stats database's write connection."""

    def __init__(self) -> None:
        self.pending: deque[Run] = deque(maxlen=MAX_PENDING)
        self.last: Run | None = None  # the latest run, logged or not (for /metrics)

    def insert(self, c: sqlite3.Connection, run: Run) -> None:
        """Inside an open transaction: this run and the failures waiting."""
        c.executemany(_INSERT, [_row(r) for r in (*self.pending, run)])

    def committed(self, run: Run) -> None:
        self.pending.clear()
        self.last = run

    def record(self, c: sqlite3.Connection, run: Run) -> None:
        """Log a run outside a flush (a failed flush, a prune) in a small
        transaction of its own (none may be open), or keep it for later."""
        self.last = run
        if len(self.pending) == self.pending.maxlen:
            log.warning("run log: more than %d failed runs unwritten, oldest dropped", MAX_PENDING)
        self.pending.append(run)
        if _DISK_FULL in run.error:
            return
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                c.executemany(_INSERT, [_row(r) for r in self.pending])
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            log.info("run log: failed run kept for the next flush: %s", e)
            return
        self.pending.clear()


def prune(c: sqlite3.Connection, before_ms: int) -> int:
    return c.execute("DELETE FROM runs WHERE started_ms < ?", (before_ms,)).rowcount


def read(c: sqlite3.Connection, since_ms: int, limit: int) -> list[Run]:
    """The latest `limit` runs started at or after `since_ms`, oldest first."""
    try:
        have = c.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
        if have is None:
            return []
        rows = c.execute(
            f"SELECT {_COLUMNS} FROM runs WHERE started_ms >= ? "
            "ORDER BY started_ms DESC, id DESC LIMIT ?",
            (since_ms, limit),
        ).fetchall()
    except sqlite3.Error as e:
        raise StatsStoreError(f"cannot read the run log: {e}") from e
    return [Run(*r) for r in reversed(rows)]
