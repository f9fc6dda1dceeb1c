"""`analyticsd backup` under load and `analyticsd export`, against the API."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.forwarding import send, traffic
from tests.helpers import TEST_SITE, Daemon, free_port, running_daemon, write_config


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_backup_under_load_is_consistent_and_restores_to_the_same_stats(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "a") as d:
        reqs = traffic(6000, seed=60)
        stop = threading.Event()
        acked: list[str] = []

        def load() -> None:
            for req in reqs:
                if stop.is_set():
                    return
                acked.extend(send(d, [req]))

        sender = threading.Thread(target=load)
        sender.start()
        try:
            time.sleep(1.0)
            live = d.cli("backup", str(tmp_path / "live.sqlite3"))
        finally:
            stop.set()
            sender.join(timeout=60)
        assert live.returncode == 0, live.stderr
        assert "backed up" in live.stdout
        with sqlite3.connect(tmp_path / "live.sqlite3") as c:
            assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            # One flush is one transaction: the copy holds whole flushes, so
            # per-event rows and the totals agree.
            rows = c.execute("SELECT count(*) FROM events WHERE site = ?", (TEST_SITE,)).fetchone()
            human = c.execute(
                "SELECT coalesce(sum(events), 0) FROM agg WHERE site = ? AND gran = 1 AND dim = 0",
                (TEST_SITE,),
            ).fetchone()
            assert rows == human
            assert 0 < rows[0] <= len(acked)
        d.wait_caught_up()
        final = d.cli("backup", str(tmp_path / "final.sqlite3"))
        assert final.returncode == 0, final.stderr
        again = d.cli("backup", str(tmp_path / "final.sqlite3"))
        assert again.returncode != 0
        assert "exists" in again.stderr
        expected = d.stats(_today()).json()
    # Restore: a fresh data dir holding only the backup.
    port = free_port()
    cfg = write_config(tmp_path / "b", port)
    (tmp_path / "b" / "data").mkdir(parents=True)
    shutil.copy(tmp_path / "final.sqlite3", tmp_path / "b" / "data" / "stats.sqlite3")
    restored = Daemon(cfg, port)
    restored.start()
    try:
        assert restored.stats(_today()).json() == expected
        # It keeps counting: its new spool must not number events from 1,
        # or the restored store (which counted up to a high sequence) would
        # take them for counted, and new visits would reuse ids of old ones.
        sessions_before = _sessions(tmp_path / "b")
        fresh = [r for r in traffic(60, seed=61) if "Googlebot" not in r[1]]
        assert len(send(restored, fresh)) == sum(len(events) for _, _, events in fresh)
        restored.wait_caught_up()
        time.sleep(1.0)
        after = restored.stats(_today()).json()
        # The traffic's times spread over the last hour: after midnight some
        # fall on yesterday, which today's numbers do not count.
        assert after["totalViews"] == expected["totalViews"] + sum(
            1
            for _, _, events in fresh
            for ev in events
            if ev["eventType"] == "pageview" and ev["timestamp"][:10] == _today()
        )
        assert _sessions(tmp_path / "b") >= sessions_before  # old visits kept
        assert "the spool is younger than the statistics store" in restored.log()
    finally:
        restored.kill()


def _sessions(root: Path) -> set[tuple[int, int]]:
    with sqlite3.connect(f"file:{root / 'data' / 'stats.sqlite3'}?mode=ro", uri=True) as c:
        return set(c.execute("SELECT id, start_ms FROM sessions"))


def test_export_round_trips_against_the_api(daemon: Daemon) -> None:
    ids = send(daemon, traffic(800, seed=61))
    daemon.wait_caught_up()
    day = _today()
    api = daemon.stats(day).json()
    out = daemon.cli("export", "--site", TEST_SITE, "--from", day, "--to", day)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    site = [r for r in rows if r["dimension"] == "site"]
    assert len(site) == 1
    assert int(site[0]["pageviews"]) == api["totalViews"]
    assert int(site[0]["visitors"]) == api["uniqueUsers"]
    assert int(site[0]["visits"]) == api["visits"]
    pages = sorted(
        ((r["value"], int(r["pageviews"])) for r in rows if r["dimension"] == "event:page"),
        key=lambda p: (-p[1], p[0]),
    )
    assert [{"path": p, "views": n} for p, n in pages[:10] if n] == api["topPaths"]
    bots = [r for r in rows if r["dimension"] == "bots"]
    assert int(bots[0]["pageviews"]) == api["botViews"]
    events = daemon.cli(
        "export", "--site", TEST_SITE, "--from", day, "--to", day,
        "--rows", "events", "--format", "ndjson",
    )  # fmt: skip
    assert events.returncode == 0, events.stderr
    exported = [json.loads(line) for line in events.stdout.splitlines()]
    # Per-event rows are human events (bots are counted apart): each once.
    assert len(exported) == int(site[0]["events"])
    assert {e["event_id"] for e in exported} <= set(ids)
    assert len({e["event_id"] for e in exported}) == len(exported)
    assert all(e["time"].startswith(day) for e in exported)  # the site's timezone is UTC
    purchases = [e for e in exported if e["name"] == "purchase"]
    assert purchases
    assert all(e["currency"] == "EUR" and float(e["revenue"]) > 0 for e in purchases)


def test_export_refuses_bad_arguments(daemon: Daemon) -> None:
    unknown = daemon.cli("export", "--site", "nope", "--from", "2026-01-01", "--to", "2026-01-02")
    assert unknown.returncode == 1
    assert "not a configured site" in unknown.stderr
    backwards = daemon.cli(
        "export", "--site", TEST_SITE, "--from", "2026-02-01", "--to", "2026-01-01"
    )
    assert backwards.returncode == 1
    assert "--from must not be after --to" in backwards.stderr
    bad_date = daemon.cli("export", "--site", TEST_SITE, "--from", "yesterday", "--to", "x")
    assert bad_date.returncode == 1
    assert "dates like" in bad_date.stderr
    assert daemon.health()["status"] == "ok"
