"""The status report's problems and disk-full flag, from what the parts say."""

from __future__ import annotations

from analyticsd.status_report import Live, build
from analyticsd.storage.spool import SpoolStats

SPOOL = SpoolStats(0, 0, 1 << 20, 1, {}, None)


def report(**live: object) -> dict[str, object]:
    state = Live(
        uptime_s=1.0,
        events_per_s_1m=0.0,
        accepted_total=0,
        pending_events=0,
        last_flush_ms=None,
        draining=False,
        **live,  # type: ignore[arg-type]
    )
    return build("/srv/data", SPOOL, 0, 0, state)


def test_all_well_is_no_problem() -> None:
    rep = report()
    assert (rep["problems"], rep["disk_full"]) == ([], False)


def test_a_flush_failing_on_a_full_disk_names_the_data_dir() -> None:
    rep = report(store_error="flush to /srv/data/stats.sqlite3 failed: database or disk is full")
    assert rep["disk_full"] is True
    assert rep["problems"] == [
        "counting is paused (disk full at /srv/data), flushes fail: "
        "flush to /srv/data/stats.sqlite3 failed: database or disk is full"
    ]


def test_a_flush_failing_otherwise_is_not_a_full_disk() -> None:
    rep = report(store_error="flush failed: database is locked")
    assert rep["disk_full"] is False
    assert rep["problems"] == ["counting is paused, flushes fail: flush failed: database is locked"]


def test_files_not_saved_are_problems_and_a_full_disk_says_so() -> None:
    key = "disk full at /srv/data: cannot write /srv/data/session.key"
    rep = report(unsaved=(f"dashboard session key ({key})",))
    assert rep["disk_full"] is True
    assert rep["problems"] == [f"not saved, retried every 30 s: dashboard session key ({key})"]
