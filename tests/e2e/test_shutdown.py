"""SIGTERM under load: exit 0 within 10 s, and nothing acknowledged is lost."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, recent_events, send_all, write_config

MAX_EVENTS = 6000

WORKERS = 12


def test_sigterm_under_load(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, flush_interval_s=0.5), port)
    d.start()
    events = recent_events(MAX_EVENTS, "/t/", 5)
    day = events[0]["timestamp"][:10]
    acked: set[str] = set()
    stopped_at: list[float] = []

    def stop_when_busy(n: int) -> None:
        if n == 1000:
            stopped_at.append(time.monotonic())
            d.signal(signal.SIGTERM)

    try:
        loader = threading.Thread(
            target=send_all, args=(WORKERS, d.url, events, acked, stop_when_busy)
        )
        loader.start()
        loader.join(timeout=120)
        assert stopped_at, "load never reached the stop point"
        assert d.wait(timeout=15) == 0
        assert d.proc is not None
        log = d.log()
        assert "received SIGTERM" in log
        assert len(acked) < MAX_EVENTS, "the daemon kept accepting after SIGTERM"

        d.start()
        head = d.health()["spool"]["head_seq"]
        again: set[str] = set()
        assert set(
            send_all(WORKERS, d.url, [e for e in events if e["eventId"] in acked], again)
        ) == {202}
        assert d.health()["spool"]["head_seq"] == head, "an acknowledged event was lost"
        d.wait_caught_up()
        assert d.stats(day).json()["totalViews"] == len(acked)
    finally:
        d.kill()


def test_sigterm_exits_promptly(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)
    d.start()
    r = web.post(
        f"{d.url}/api/event",
        timeout=5,
        json={"siteId": TEST_SITE, "eventType": "pageview", "path": "/"},
    )
    assert r.status_code == 202
    start = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0
    assert time.monotonic() - start < 10
    # The final flush happened: the stats file already holds the event.
    d.start()
    assert d.stats(datetime.now(UTC).date().isoformat()).json()["totalViews"] == 1
    d.kill()


def test_sighup_does_not_stop_the_daemon(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)
    d.start()
    try:
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in d.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "nothing changed" in d.log()
        r = web.post(
            f"{d.url}/api/event",
            timeout=5,
            json={"siteId": TEST_SITE, "eventType": "pageview", "path": "/"},
        )
        assert r.status_code == 202
        assert d.stop() == 0
    finally:
        d.kill()
