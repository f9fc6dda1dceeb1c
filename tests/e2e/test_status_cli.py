"""`analyticsd status` and `check-config` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config


def test_status_running_then_down(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, flush_interval_s=3600, quiet_flush_s=0), port)
    d.start()
    try:
        for i in range(5):
            r = web.post(
                f"{d.url}/api/event",
                timeout=5,
                json={"siteId": TEST_SITE, "eventType": "pageview", "path": f"/{i}"},
            )
            assert r.status_code == 202
        out = d.cli("status")
        assert out.returncode == 0, out.stderr
        assert "running" in out.stdout
        assert "spool:        5 events" in out.stdout
        assert "quota" in out.stdout
        assert "forwarder:    disabled" in out.stdout
        js = d.cli("status", "--json")
        assert js.returncode == 0
        report = json.loads(js.stdout)
        assert report["daemon"] == "running"
        assert report["spool"]["events"] == 5
        assert report["spool"]["bytes"] > 0
        assert report["spool"]["quota_bytes"] == 64 * 1024 * 1024
        assert report["forwarder"]["state"] == "disabled"
        assert report["aggregator"]["lag_events"] == 5  # nothing flushed yet
        assert report["ingest"]["accepted_total"] == 5
        assert report["spool"]["oldest_event_age_s"] is not None
        assert d.stop() == 0
    finally:
        d.kill()

    down = d.cli("status")
    assert down.returncode == 3
    assert "down" in down.stdout
    assert "the daemon is down" in down.stdout
    down_js = d.cli("status", "--json")
    assert down_js.returncode == 3
    report = json.loads(down_js.stdout)
    assert report["daemon"] == "down"
    assert report["aggregator"]["flushed_seq"] == 5  # the final flush on SIGTERM
    assert report["aggregator"]["last_flush"] is not None


def test_status_without_data_dir(tmp_path: Path) -> None:
    d = Daemon(write_config(tmp_path, free_port()), 0)
    out = d.cli("status")
    assert out.returncode == 3
    assert "never started" in out.stderr


def test_check_config(tmp_path: Path) -> None:
    good = write_config(tmp_path, free_port())
    d = Daemon(good, 0)
    ok = d.cli("check-config")
    assert ok.returncode == 0
    assert "OK" in ok.stdout
    good.write_text(good.read_text() + "\n[aggregator2]\nx = 1\n")
    bad = d.cli("check-config")
    assert bad.returncode == 2
    assert "aggregator2: unknown key" in bad.stderr
    good.write_text('[server]\nlisten = "127.0.0.1:1"\nmax_body_bytes = "big"\n')
    bad = d.cli("check-config")
    assert bad.returncode == 2
    assert "server.max_body_bytes" in bad.stderr
