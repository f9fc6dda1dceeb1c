"""Backup and export of the SQLite statistics, for the command line.

Both only read the database, through their own connection, so they run while
the daemon writes: SQLite's WAL gives a reader a consistent snapshot, and the
online backup copies one (the aggregator's flushes are single transactions,
so a copy never holds half a flush). The spool is transient and the salts are
secrets meant to be destroyed: neither is part of a backup.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from analyticsd.core.aggregate import DAY, DIMENSIONS, PROP, SEP, day_label
from analyticsd.core.buckets import day_range_ms
from analyticsd.core.dimensions import EMPTY_LABELS
from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.statsdb import FILENAME, METRIC_COLUMNS

AGGREGATE_COLUMNS = ("date", "dimension", "value", *METRIC_COLUMNS)
EVENT_COLUMNS = (
    "time", "event_id", "name", "path", "visit", "visitor", "props", "goals",
    "revenue", "currency", "user_id",
)  # fmt: skip


def _open(data_dir: str) -> sqlite3.Connection:
    path = os.path.join(data_dir, FILENAME)
    if not os.path.exists(path):
        raise StatsStoreError(f"no statistics database at {path}")
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StatsStoreError(f"cannot open {path}: {e}") from e


def backup(data_dir: str, dest: str) -> int:
    """A consistent copy of the database at `dest` (written to a temporary
    name, fsynced, then renamed); returns its size in bytes."""
    if os.path.exists(dest):
        raise StatsStoreError(f"{dest} exists; choose a new file name")
    tmp = f"{dest}.partial"
    src = _open(data_dir)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)  # all pages in one step: one read snapshot
            out.execute("PRAGMA journal_mode=DELETE")
        finally:
            out.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except (sqlite3.Error, OSError) as e:
        raise StatsStoreError(f"backup failed: {e}") from e
    finally:
        src.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return os.path.getsize(dest)


def _value(dim: int, value: str) -> str:
    if value == "":  # the row of visits without a value: Plausible's label
        return EMPTY_LABELS.get(dim, "")
    return value.replace(SEP, "=" if dim == PROP else " ")


def aggregates(data_dir: str, site: str, first_day: int, last_day: int) -> Iterator[dict[str, Any]]:
    """Day rows of `site`, days numbered as in core.aggregate, inclusive."""
    conn = _open(data_dir)
    try:
        cur = conn.execute(
            f"SELECT bucket, dim, val, {', '.join(METRIC_COLUMNS)} FROM agg "
            "WHERE site = ? AND gran = ? AND bucket BETWEEN ? AND ? ORDER BY bucket, dim, val",
            (site, DAY, first_day, last_day),
        )
        for bucket, dim, val, *metrics in cur:
            yield {
                "date": day_label(bucket),
                "dimension": DIMENSIONS.get(dim) or "site",
                "value": _value(dim, val),
                **dict(zip(METRIC_COLUMNS, metrics, strict=True)),
            }
    except sqlite3.Error as e:
        raise StatsStoreError(f"export failed: {e}") from e
    finally:
        conn.close()


def events(
    data_dir: str, site: str, tz: str, first_day: int, last_day: int
) -> Iterator[dict[str, Any]]:
    """Per-event rows of `site` on those local days (as long as retention keeps them)."""
    start, _ = day_range_ms(first_day, tz)
    _, end = day_range_ms(last_day, tz)
    conn = _open(data_dir)
    try:
        cur = conn.execute(
            "SELECT ts, event_id, name, path, session, visitor, props, goals, revenue_micros,"
            " currency, user_id FROM events WHERE site = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (site, start, end),
        )
        for ts, eid, name, path, visit, visitor, props, goals, micros, cur_, user in cur:
            yield {
                "time": _iso(ts),
                "event_id": eid,
                "name": name,
                "path": path,
                "visit": visit,
                "visitor": f"{visitor & 0xFFFFFFFFFFFFFFFF:016x}",
                "props": props or "",
                "goals": goals or "",
                "revenue": "" if micros is None else f"{micros / 1_000_000:.6f}",
                "currency": cur_ or "",
                "user_id": user or "",
            }
    except sqlite3.Error as e:
        raise StatsStoreError(f"export failed: {e}") from e
    finally:
        conn.close()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def write(rows: Iterator[dict[str, Any]], columns: tuple[str, ...], fmt: str, out: TextIO) -> int:
    """CSV with a header, or one JSON object per line; returns the row count."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
        return n
    buf = io.StringIO()
    for row in rows:
        buf.write(json.dumps(row, ensure_ascii=False))
        buf.write("\n")
        n += 1
        if n % 1000 == 0:
            out.write(buf.getvalue())
            buf = io.StringIO()
    out.write(buf.getvalue())
    return n
