"""Where unique-visitor marks go when the aggregation is over its memory budget.

A scratch SQLite file in the data dir, made anew at every start: marks are
hashes only comparable within one process (core.marks), so nothing in it
outlives the process, and nothing in it needs to be durable: the marks of a
bucket can always be recounted from the per-event rows. Hence no journal and
no fsync; the file is deleted on open and on close.

Rows are (bucket id, mark) in a WITHOUT ROWID table: a lookup is a probe of
its primary key, a dropped bucket one range delete. Bucket ids are small
integers given per (site, granularity, bucket) by this store.

Methods are blocking; the aggregator calls them in a worker thread, one at
a time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from itertools import islice

from analyticsd.core.errors import StatsStoreError

FILENAME = "spill.sqlite3"
BucketKey = tuple[str, int, int]
_CHUNK = 500  # marks per statement (SQLite's default limit is 32,766 variables)


class SpillStore:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self._ids: dict[BucketKey, int] = {}
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            try:
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute(
                    "CREATE TABLE marks (b INTEGER NOT NULL, m INTEGER NOT NULL, "
                    "PRIMARY KEY (b, m)) WITHOUT ROWID"
                )
            except sqlite3.Error as e:
                raise StatsStoreError(f"cannot create {self.path}: {e}") from e
            self._conn = conn
        return self._conn

    def _id(self, key: BucketKey) -> int:
        if key not in self._ids:
            self._ids[key] = len(self._ids) + 1
        return self._ids[key]

    def put(self, spilled: Iterable[tuple[BucketKey, set[int]]]) -> int:
        """Store the marks of these buckets; how many were written."""
        conn, n = self._db(), 0
        try:
            conn.execute("BEGIN")
            for key, marks in spilled:
                b, it = self._id(key), iter(marks)
                # Many rows per statement: executemany retakes the GIL per
                # row, which crawls beside a busy event loop (storage.statsdb).
                while chunk := list(islice(it, _CHUNK)):
                    values = ",".join([f"({b},?)"] * len(chunk))
                    conn.execute(f"INSERT OR IGNORE INTO marks VALUES {values}", chunk)
                n += len(marks)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StatsStoreError(f"cannot write {self.path}: {e}") from e
        return n

    def present(self, key: BucketKey, marks: set[int]) -> set[int]:
        """Those of `marks` stored for the bucket."""
        b = self._ids.get(key)
        if b is None or not marks:
            return set()
        conn, it = self._db(), iter(marks)
        found: set[int] = set()
        try:
            while chunk := list(islice(it, _CHUNK)):
                rows = conn.execute(
                    f"SELECT m FROM marks WHERE b = ? AND m IN ({','.join('?' * len(chunk))})",
                    (b, *chunk),
                )
                found.update(m for (m,) in rows)
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot read {self.path}: {e}") from e
        return found

    def drop(self, keys: Iterable[BucketKey]) -> None:
        """Forget the marks of buckets the aggregation dropped."""
        ids = [self._ids.pop(k) for k in keys if k in self._ids]
        if not ids or self._conn is None:
            return
        try:
            for b in ids:
                self._conn.execute("DELETE FROM marks WHERE b = ?", (b,))
        except sqlite3.Error as e:
            raise StatsStoreError(f"cannot delete from {self.path}: {e}") from e

    def reset(self) -> None:
        """Forget every mark, as a new start would (the aggregator rebuilt
        its counts from SQLite: marks of events it no longer holds must not
        count their visitors as seen)."""
        self.close()
        self._ids.clear()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
