"""Rebuilding one site-day's rollups from its per-event rows, in one transaction.

Called by the aggregator only (actors/aggregator.py), between two of its
flushes and on its own connection: the store keeps one writer, and the
aggregator reloads its in-memory state from what this committed.

In the one `BEGIN IMMEDIATE` transaction: the day's DAY and HOUR rows
(`agg`, `revenue`; not the bot rows, not `engagement`, which per-event rows
cannot rebuild) are taken out of their WEEK and MONTH sums and deleted;
the rows core.recount counts afresh are written (through the same
distinct-values cap as a flush) and added to those sums; each per-event
row of the day gets its goals as configured now and each visit begun on
the day its conversions. A failure rolls all of it back: a day is rebuilt
whole or not at all.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import replace

from analyticsd.core import faults
from analyticsd.core.buckets import DAY, HOUR, MONTH, WEEK, day_range_ms, month_of, week_of
from analyticsd.core.dimensions import BOTS, shared_dims
from analyticsd.core.enrich import SiteRules
from analyticsd.core.errors import RecomputeRefused, StatsStoreError
from analyticsd.core.recount import StoredEvent, StoredVisit, recount_day
from analyticsd.storage.statsdb import (
    _AGG_CONFLICT,
    _AGG_INSERT,
    _DIM_COLUMNS,
    _UPSERT_REVENUE,
    METRIC_COLUMNS,
    StatsDB,
    _bulk,
)

_EVENT_COLUMNS = (
    "rowid, ts, session, visitor, name, path, props, revenue_micros, currency, user_id, event_id"
)
_IDS_PER_QUERY = 500
_REV_CONFLICT = (
    "ON CONFLICT(site, gran, bucket, dim, val, currency) DO UPDATE SET "
    "amount_micros = amount_micros + excluded.amount_micros, n = n + excluded.n"
)


def recompute_day(db: StatsDB, site: str, day: int, tz: str, rules: SiteRules | None) -> int:
    """Rebuild the day with the goal `rules`; how many per-event rows it was rebuilt from."""
    c = db.conn
    c.create_function("month_of", 1, month_of, deterministic=True)
    c.create_function("week_of", 1, week_of, deterministic=True)
    start, end = day_range_ms(day, tz)
    with_hours = start >= (db.meta("hour_rows_from_ms") or 0)
    try:
        c.execute("BEGIN IMMEDIATE")
        try:
            events, visits = _read(c, site, day, start, end)
            recount = recount_day(site, day, tz, events, visits, rules, with_hours)
            _take_out(c, site, day)
            db.cap.days.pop((site, day), None)  # its admitted values are rebuilt too
            folded = db._fold(c, recount.batch)
            _bulk(c, _AGG_INSERT, 13, replace(recount.batch, buckets=folded.buckets).flat_rows(),
                  _AGG_CONFLICT)  # fmt: skip
            c.executemany(_UPSERT_REVENUE, recount.batch.revenue_rows())
            _drop_zero_sums(c, site, day)
            c.executemany("UPDATE events SET goals = ? WHERE rowid = ?", recount.goals)
            c.executemany("UPDATE visits SET conversions = ? WHERE id = ?", recount.conversions)
            faults.hit("recompute.before_commit")
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    c.execute("ROLLBACK")
            raise
    except sqlite3.Error as e:
        raise StatsStoreError(f"recompute of day {day} failed: {e}") from e
    db.cap.admit(folded)
    return recount.events


def _read(
    c: sqlite3.Connection, site: str, day: int, start: int, end: int
) -> tuple[list[StoredEvent], dict[int, StoredVisit]]:
    """The per-event rows of every visit with an event on the day, and those visits."""
    sids = {
        int(r[0])
        for r in c.execute(
            "SELECT session FROM events WHERE site = ? AND ts >= ? AND ts < ?", (site, start, end)
        )
    }
    # A visit begun on the day has its first event on it (only events with
    # per-event rows open visits), so these are all the visits it needs; no
    # scan of `visits` by start day (it has no index for one).
    visits: dict[int, StoredVisit] = {}
    lo, hi = start, end
    ordered = sorted(sids)
    for i in range(0, len(ordered), _IDS_PER_QUERY):
        part = ordered[i : i + _IDS_PER_QUERY]
        for sid, visitor, s_ms, e_ms, *dims in c.execute(
            f"SELECT id, visitor, start_ms, end_ms, {', '.join(_DIM_COLUMNS)} FROM sessions "
            f"WHERE id IN ({','.join('?' * len(part))})",
            part,
        ):
            visits[int(sid)] = StoredVisit(
                int(sid), int(visitor), shared_dims(tuple(map(str, dims)))
            )
            lo, hi = min(lo, int(s_ms)), max(hi, int(e_ms) + 1)
    if len(visits) < len(sids):
        raise RecomputeRefused(
            f"{len(sids) - len(visits)} visit(s) with events on day {day} have no stored visit "
            "row any more (pruned); the day cannot be rebuilt"
        )
    rows = c.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE site = ? AND ts >= ? AND ts < ? "
        "ORDER BY ts, rowid",
        (site, lo, hi),
    ).fetchall()
    events = [StoredEvent(*r) for r in rows if r[2] in sids]
    return events, visits


def _take_out(c: sqlite3.Connection, site: str, day: int) -> None:
    """The day's rows out of their WEEK and MONTH sums, then deleted (bots stay)."""
    neg = ", ".join(f"-{m}" for m in METRIC_COLUMNS)
    for gran, fn in ((WEEK, "week_of"), (MONTH, "month_of")):
        c.execute(
            f"{_AGG_INSERT} SELECT site, {gran}, {fn}(bucket), dim, val, {neg} FROM agg "
            f"WHERE site = ? AND gran = {DAY} AND bucket = ? AND dim != {BOTS} {_AGG_CONFLICT}",
            (site, day),
        )
        c.execute(
            f"INSERT INTO revenue SELECT site, {gran}, {fn}(bucket), dim, val, currency, "
            f"-amount_micros, -n FROM revenue WHERE site = ? AND gran = {DAY} AND bucket = ? "
            f"{_REV_CONFLICT}",
            (site, day),
        )
    hours = (day * 24, day * 24 + 24)
    c.execute(
        f"DELETE FROM agg WHERE site = ? AND dim != {BOTS} AND ((gran = {DAY} AND bucket = ?) "
        f"OR (gran = {HOUR} AND bucket >= ? AND bucket < ?))",
        (site, day, *hours),
    )
    c.execute(
        f"DELETE FROM revenue WHERE site = ? AND ((gran = {DAY} AND bucket = ?) "
        f"OR (gran = {HOUR} AND bucket >= ? AND bucket < ?))",
        (site, day, *hours),
    )


def _drop_zero_sums(c: sqlite3.Connection, site: str, day: int) -> None:
    """WEEK and MONTH rows left at zero (a value only that day had, under an old goal)."""
    zero = " AND ".join(f"{m} = 0" for m in METRIC_COLUMNS)
    where = f"site = ? AND ((gran = {WEEK} AND bucket = ?) OR (gran = {MONTH} AND bucket = ?))"
    args = (site, week_of(day), month_of(day))
    c.execute(f"DELETE FROM agg WHERE {where} AND {zero}", args)
    c.execute(f"DELETE FROM revenue WHERE {where} AND n = 0 AND amount_micros = 0", args)
