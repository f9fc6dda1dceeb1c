from __future__ import annotations

from pathlib import Path

from analyticsd.core.buckets import Deltas
from analyticsd.storage.statsdb import StatsDB, StatsReader
from tests.core.test_buckets import ms, rec

T = ms("2026-11-23T10:00:00+00:00")


def test_flushes_add_up_and_visitors_count_once(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    d1 = Deltas(last_seq=0)
    d1.add(1, rec("s", "/a", "v1", T), "UTC")
    d1.add(2, rec("s", "/b", "v2", T), "UTC")
    db.flush(d1, 111)
    d2 = Deltas(last_seq=2)
    d2.add(3, rec("s", "/a", "v1", T), "UTC")  # v1 again: not a new visitor
    d2.add(4, rec("s", "/c", "v3", T), "UTC")
    db.flush(d2, 222)
    reader = StatsReader(str(tmp_path))
    day = reader.day_stats("s", "2026-11-23")
    assert day is not None
    assert (day.pageviews, day.visitors) == (4, 3)
    assert day.top_paths == [("/a", 2), ("/b", 1), ("/c", 1)]
    assert db.last_seq() == 4
    assert reader.meta("last_flush_ms") == 222
    assert reader.day_stats("s", "2026-11-24") is None
    assert reader.day_stats("other", "2026-11-23") is None


def test_last_seq_never_moves_back(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    d = Deltas(last_seq=0)
    d.add(10, rec("s", "/a", "v1", T), "UTC")
    db.flush(d, 1)
    db.flush(Deltas(last_seq=5), 2)
    assert db.last_seq() == 10


def test_top_paths_limit(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path))
    d = Deltas(last_seq=0)
    seq = 0
    for i in range(15):
        for _ in range(i + 1):
            seq += 1
            d.add(seq, rec("s", f"/p{i:02d}", "v", T), "UTC")
    db.flush(d, 1)
    day = StatsReader(str(tmp_path)).day_stats("s", "2026-11-23")
    assert day is not None
    assert [p for p, _ in day.top_paths] == [f"/p{i:02d}" for i in range(14, 4, -1)]
