"""The runs table (storage.run_log) on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from analyticsd.core import faults
from analyticsd.core.aggregate import Aggregation
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.runs import FAILED, FLUSH, OK, PRUNE, Run
from analyticsd.storage import run_log
from analyticsd.storage.statsdb import StatsDB, connect_readonly
from tests.core.records_fixture import ms, rec

T = ms("2026-11-23T10:00:00+00:00")
DAY = 86_400_000


def _flush(db: StatsDB, agg: Aggregation, seq: int, visitor: str, now_ms: int = T) -> None:
    r = rec(T, visitor, "/a")
    for site, gran, bucket in agg.marks_needed([r]):
        agg.load_marks(site, gran, bucket, db.bucket_marks(site, gran, bucket, "UTC"))
    agg.add(seq, r)
    batch = agg.take()
    try:
        db.flush(batch, now_ms)
    except StatsStoreError:
        agg.failed(batch)
        raise
    agg.committed(batch)


def _logged(tmp_path: Path) -> list[Run]:
    conn = connect_readonly(str(tmp_path / "stats.sqlite3"))
    try:
        return run_log.read(conn, 0, 100)
    finally:
        conn.close()


def test_each_flush_logs_its_run_in_its_transaction(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    _flush(db, agg, 1, "00000000000000a1")
    _flush(db, agg, 2, "00000000000000b2", now_ms=T + 1000)
    runs = _logged(tmp_path)
    assert [(r.kind, r.outcome, r.events, r.last_seq, r.started_ms) for r in runs] == [
        (FLUSH, OK, 1, 1, T),
        (FLUSH, OK, 1, 2, T + 1000),
    ]
    assert all(r.rows > 0 and r.error == "" for r in runs)
    assert db.runs.last == runs[-1]


def test_a_failed_flush_logs_a_failure_and_nothing_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    monkeypatch.setattr(faults, "_armed", ("flush.error", "1"))
    monkeypatch.setattr(faults, "_hits", {})
    with pytest.raises(StatsStoreError, match=r"failpoint flush\.error"):
        _flush(db, agg, 1, "00000000000000a1")
    assert db.last_seq() == 0  # rolled back
    [run] = _logged(tmp_path)
    assert (run.kind, run.outcome, run.events, run.rows) == (FLUSH, FAILED, 1, 0)
    assert "failpoint flush.error" in run.error
    db.flush(agg.take(), T + 5)  # the failed batch's counts, put back, now commit
    assert [r.outcome for r in _logged(tmp_path)] == [FAILED, OK]
    assert db.last_seq() == 1


def test_a_failure_on_a_full_disk_waits_for_the_next_committed_flush(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    full = Run(T, 3, FLUSH, FAILED, events=5, error="database or disk is full")
    db.runs.record(db.conn, full)
    assert _logged(tmp_path) == []  # no commit on a full disk
    _flush(db, agg, 1, "00000000000000a1", now_ms=T + 10)
    assert [(r.outcome, r.started_ms) for r in _logged(tmp_path)] == [(FAILED, T), (OK, T + 10)]
    assert not db.runs.pending


def test_logging_a_failure_never_raises(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    broken = sqlite3.connect(":memory:")  # no runs table: every insert fails
    for i in range(run_log.MAX_PENDING + 5):
        db.runs.record(broken, Run(T + i, 1, FLUSH, FAILED, error="disk I/O error"))
    assert len(db.runs.pending) == run_log.MAX_PENDING  # bounded: the oldest went
    assert db.runs.pending[0].started_ms == T + 5
    db.log_run(Run(T + 500, 1, PRUNE, OK))  # writes what waits, within the bound
    logged = _logged(tmp_path)
    assert len(logged) == run_log.MAX_PENDING
    assert (logged[0].started_ms, logged[-1].kind) == (T + 6, PRUNE)
    assert not db.runs.pending


def test_the_retention_prune_deletes_old_runs_only(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    for started in (T - 10 * DAY, T - 8 * DAY, T - DAY, T):
        db.log_run(Run(started, 1, PRUNE, OK))
    db.prune(T - 30 * DAY, runs_before_ms=T - 7 * DAY)
    assert [r.started_ms for r in _logged(tmp_path)] == [T - DAY, T]


def test_reading_a_database_from_before_the_table(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "stats.sqlite3").execute("CREATE TABLE meta (k)").connection.close()
    assert _logged(tmp_path) == []
