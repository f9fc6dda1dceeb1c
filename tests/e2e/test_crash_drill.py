"""Crash drills: SIGKILL mid-stream, restart, re-send everything, count exactly once.

Kill points: inside a spool commit, inside an aggregator flush (before its
SQLite COMMIT), right after a flush (before the spool cursor moves), and an
outside `kill -9` at an arbitrary moment. The daemon kills itself at the exact
point through a failpoint, which is a real SIGKILL, not an emulation.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from analyticsd.core.aggregate import DAY, PAGE, day_number
from tests.helpers import TEST_SITE, Daemon, free_port, recent_events, send_all, write_config

N_EVENTS = 2000
WORKERS = 12
N_PATHS = 37


def _events() -> list[dict[str, Any]]:
    return recent_events(N_EVENTS, "/drill/", N_PATHS)


def _path_counts(data_dir: Path, day: str) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{data_dir / 'stats.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT val, pageviews FROM agg WHERE site=? AND gran=? AND bucket=? AND dim=?",
            (TEST_SITE, DAY, day_number(day), PAGE),
        ).fetchall()
        # Per-event rows are written in the same transaction: exactly once too.
        per_event = conn.execute(
            "SELECT path, count(*) FROM events WHERE site=? GROUP BY path", (TEST_SITE,)
        ).fetchall()
    finally:
        conn.close()
    assert dict(per_event) == dict(rows)
    return dict(rows)


def _drill(tmp_path: Path, failpoint: str | None, kill_after_acks: int | None = None) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, flush_interval_s=0.05), port)
    events = _events()
    day = events[0]["timestamp"][:10]
    d.start(failpoint=failpoint)
    acked: set[str] = set()
    try:

        def maybe_kill(n: int) -> None:
            if kill_after_acks is not None and n == kill_after_acks:
                d.signal(signal.SIGKILL)

        send_all(WORKERS, d.url, events, acked, maybe_kill)
        assert d.wait(timeout=30) == -signal.SIGKILL, "the daemon was not killed mid-stream"
        assert 0 < len(acked) < N_EVENTS, f"kill not mid-stream: {len(acked)} acked"

        d.start()
        # Every acknowledged event must already be in the spool: re-sending
        # them stores nothing new (the spool head does not move).
        head = d.health()["spool"]["head_seq"]
        acked_events = [e for e in events if e["eventId"] in acked]
        again: set[str] = set()
        assert set(send_all(WORKERS, d.url, acked_events, again)) == {202}
        assert d.health()["spool"]["head_seq"] == head
        # Then the client re-sends everything, acked or not.
        assert set(send_all(WORKERS, d.url, events, again)) == {202}
        d.wait_caught_up()
        stats = d.stats(day).json()
        assert stats["totalViews"] == N_EVENTS
        expected = Counter(e["path"] for e in events)
        assert _path_counts(tmp_path / "data", day) == dict(expected)
        assert d.stop() == 0
    finally:
        d.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    "failpoint",
    ["spool.commit:60", "flush.before_commit:4", "flush.after_commit:4"],
    ids=["during-spool-commit", "during-flush", "just-after-flush"],
)
def test_kill_at_failpoint(tmp_path: Path, failpoint: str) -> None:
    _drill(tmp_path, failpoint)


@pytest.mark.slow
def test_kill_from_outside(tmp_path: Path) -> None:
    _drill(tmp_path, None, kill_after_acks=N_EVENTS // 2)
