"""The aggregation-runs log through the real daemon: `analyticsd runs` and /metrics.

Each flush writes its run in its own transaction, so the events of the
logged `ok` flushes add up to exactly the events sent; a flush failed on
purpose (the `flush.error` failpoint) is logged as a failure, and its
events are counted by the next flush, once.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, recent_events, write_config

N_EVENTS = 7


def _start(tmp: Path, failpoint: str | None = None) -> Daemon:
    port = free_port()
    d = Daemon(write_config(tmp, port), port)
    d.start(failpoint=failpoint)
    return d


def _send(d: Daemon, n: int) -> None:
    with web.Client(timeout=10) as client:
        for ev in recent_events(n, "/runs/", 3):
            assert client.post(f"{d.url}/api/event", json=ev).status_code == 202


def _runs(d: Daemon, *args: str) -> list[dict[str, Any]]:
    done = d.cli("runs", "--json", *args)
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def _counters(d: Daemon) -> dict[tuple[str, str], int]:
    text = d.admin_get("/metrics").text
    pattern = r'^analyticsd_aggregation_runs_total\{kind="(\w+)",outcome="(\w+)"\} (\d+)$'
    return {(k, o): int(n) for k, o, n in re.findall(pattern, text, re.M)}


def _settled(d: Daemon, want_events: int) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    """The log and the counters once the flushes covered `want_events` and
    the two agree (a visit settled late may make one more flush)."""
    deadline = time.monotonic() + 20
    while True:
        d.wait_caught_up()
        before = _counters(d)
        runs = _runs(d)
        after = _counters(d)
        ok_events = sum(r["events"] for r in runs if r["kind"] == "flush" and r["outcome"] == "ok")
        if before == after and ok_events == want_events:
            return runs, after
        assert time.monotonic() < deadline, (runs, after)
        time.sleep(0.1)


def _pageviews(d: Daemon) -> int:
    r = web.get(
        f"{d.url}/api/v1/stats/aggregate",
        params={"site_id": TEST_SITE, "period": "day", "metrics": "pageviews"},
        headers=d.auth(),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    n: int = r.json()["results"]["pageviews"]["value"]
    return n


def test_flushes_are_logged_and_counted_in_metrics(tmp_path: Path) -> None:
    d = _start(tmp_path)
    try:
        _send(d, N_EVENTS)
        runs, counters = _settled(d, N_EVENTS)
        flushes = [r for r in runs if r["kind"] == "flush"]
        assert flushes
        assert all(r["outcome"] == "ok" and r["error"] == "" for r in flushes)
        assert all(r["rows"] > 0 and r["duration_ms"] >= 0 for r in flushes)
        seqs = [r["last_seq"] for r in flushes]
        assert seqs == sorted(seqs)
        assert seqs[-1] == N_EVENTS
        # The first flush of a start runs the retention prune: one run too.
        prunes = [r for r in runs if r["kind"] == "prune"]
        assert [(r["outcome"], r["rows"]) for r in prunes] == [("ok", 0)]
        assert counters == {
            ("flush", "ok"): len(flushes),
            ("flush", "failed"): 0,
            ("prune", "ok"): 1,
            ("prune", "failed"): 0,
        }
        text = d.admin_get("/metrics").text
        assert f'analyticsd_aggregation_run_seconds_count{{kind="flush"}} {len(flushes)}' in text
        assert 'analyticsd_aggregation_run_seconds_count{kind="prune"} 1' in text

        table = d.cli("runs")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split()[:4] == ["started", "(UTC)", "kind", "outcome"]
        assert len(lines) == 1 + len(runs)
        assert sum(" flush " in line and " ok " in line for line in lines) == len(flushes)

        assert len(_runs(d, "--limit", "1")) == 1
        assert _runs(d, "--limit", "1")[0] == runs[-1]  # the latest
        assert _runs(d, "--since", "1h") == runs
        assert _runs(d, "--since", "2999-01-01") == []
        empty = d.cli("runs", "--since", "2999-01-01")
        assert empty.stdout.strip() == "no aggregation runs logged in that time"
    finally:
        d.kill()
    # The daemon down: the same log, read from the data directory.
    assert _runs(d) == runs


def test_bad_arguments_are_refused_with_the_reason(tmp_path: Path) -> None:
    d = Daemon(write_config(tmp_path, free_port()), 0)
    missing = d.cli("runs")
    assert missing.returncode == 1
    assert "no statistics database" in missing.stderr
    bad = d.cli("runs", "--since", "last tuesday")
    assert bad.returncode == 1
    assert "--since 'last tuesday': expected an age like 90m" in bad.stderr
    assert d.cli("runs", "--limit", "0").returncode == 1


def test_a_failed_flush_is_logged_as_a_failure_and_its_events_counted_once(
    tmp_path: Path,
) -> None:
    d = _start(tmp_path, failpoint="flush.error:1")
    try:
        _send(d, N_EVENTS)
        runs, counters = _settled(d, N_EVENTS)
        flushes = [r for r in runs if r["kind"] == "flush"]
        first = flushes[0]
        assert first["outcome"] == "failed"
        assert "failpoint flush.error" in first["error"]
        assert first["events"] > 0
        assert first["rows"] == 0
        assert all(r["outcome"] == "ok" for r in flushes[1:])
        assert counters[("flush", "failed")] == 1
        assert counters[("flush", "ok")] == len(flushes) - 1
        assert _pageviews(d) == N_EVENTS  # the failed flush's events, counted once
        assert d.health()["aggregator"]["store_error"] is None
        table = d.cli("runs")
        assert any(" failed " in line and "failpoint flush.error" in line
                   for line in table.stdout.splitlines())  # fmt: skip
    finally:
        d.kill()
