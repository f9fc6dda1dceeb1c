"""A backup onto a full disk fails with the reason and leaves nothing behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from analyticsd.core.aggregate import Aggregation
from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.export import backup
from analyticsd.storage.statsdb import StatsDB
from tests.core.records_fixture import ms, rec
from tests.disk import mount_tmpfs

T = ms("2026-11-23T10:00:00+00:00")


def test_a_backup_onto_a_full_disk_says_so_and_leaves_no_partial_file(tmp_path: Path) -> None:
    db = StatsDB(str(tmp_path / "data"))
    agg = Aggregation(tz_of={"s": "UTC"})
    for seq in range(1, 501):
        r = rec(T + seq, "00000000000000a1", f"/p{seq}")
        for site, gran, bucket in agg.marks_needed([r]):
            agg.load_marks(site, gran, bucket, set())  # a new database: nothing counted yet
        agg.add(seq, r)
    db.flush(agg.take(), T)
    with mount_tmpfs(tmp_path / "small", "64k") as disk:  # smaller than the database
        with pytest.raises(StatsStoreError, match="backup failed: database or disk is full"):
            backup(str(tmp_path / "data"), str(disk / "copy.sqlite3"))
        assert list(disk.iterdir()) == []  # the partial copy is gone: the space is back
    with mount_tmpfs(tmp_path / "big", "16m") as disk:
        dest = disk / "copy.sqlite3"
        assert backup(str(tmp_path / "data"), str(dest)) == dest.stat().st_size
        with sqlite3.connect(dest) as copy:
            assert copy.execute("SELECT count(*) FROM events").fetchone() == (500,)
