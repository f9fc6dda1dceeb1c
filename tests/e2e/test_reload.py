"""SIGHUP under load: a valid change applies live, an invalid file changes
nothing and says why; no acknowledged event is lost or counted twice."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from analyticsd.core.status import render
from tests.forwarding import caught_up, counted, send, traffic, wait_until
from tests.helpers import Daemon, free_port, write_config

NEW_SITE = """
[[sites]]
id = "new.example"
origins = ["https://new.example"]

[api]
tokens = ["rotated-token"]
"""


def _event(site: str) -> dict[str, Any]:
    return {
        "siteId": site,
        "eventType": "pageview",
        "path": "/hello",
        "timestamp": datetime.now(UTC).isoformat(),
    }


def _reloaded(d: Daemon, after_ms: int) -> dict[str, Any]:
    def done() -> bool:
        last = d.health()["reload"]["last"]
        return (
            last is not None and datetime.fromisoformat(last).timestamp() * 1000 >= after_ms - 1000
        )

    wait_until("reload", done, timeout=10)
    rl: dict[str, Any] = d.health()["reload"]
    return rl


def test_reload_under_load(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, extra='[api]\ntokens = ["old-token"]\n')
    original = cfg.read_text()
    d = Daemon(cfg, port)
    d.start()
    stop = threading.Event()
    acked: list[str] = []
    errors: list[str] = []

    def load() -> None:
        try:
            for req in traffic(20_000, seed=70):
                if stop.is_set():
                    return
                acked.extend(send(d, [req]))
        except AssertionError as e:  # a non-202: the test fails below
            errors.append(str(e))

    sender = threading.Thread(target=load)
    sender.start()
    try:
        with httpx.Client(base_url=d.url, timeout=5) as c:
            assert c.post("/api/event", json=_event("new.example")).status_code == 403
            wait_until("load flowing", lambda: len(acked) > 100)
            # A valid change: a new site, a rotated token.
            cfg.write_text(original.replace('[api]\ntokens = ["old-token"]\n', "") + NEW_SITE)
            sent_at = int(time.time() * 1000)
            d.signal(signal.SIGHUP)
            rl = _reloaded(d, sent_at)
            assert rl["ok"] is True
            assert set(rl["changed"]) == {"sites", "api"}
            assert c.post("/api/event", json=_event("new.example")).status_code == 202
            time.sleep(0.5)
            # An invalid file: nothing changes, status says which key.
            bad = original.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"', 1)
            assert bad != original
            cfg.write_text(bad)
            sent_at = int(time.time() * 1000)
            d.signal(signal.SIGHUP)
            rl = _reloaded(d, sent_at)
            assert rl["ok"] is False
            assert "sites[0].timezone: unknown IANA timezone 'Mars/Olympus'" in rl["error"]
            assert c.post("/api/event", json=_event("new.example")).status_code == 202
            # `status` prints it (the CLI itself cannot read the broken file,
            # so render what the daemon reports).
            assert "FAILED (running configuration kept)" in render(d.health())
            time.sleep(0.5)
    finally:
        stop.set()
        sender.join(timeout=60)
    try:
        assert not errors, errors[:2]
        assert len(acked) > 200
        wait_until("counting", lambda: caught_up(d, len(acked) + 2))
        time.sleep(0.3)
        # Every acknowledged event counted once: the load's and the two beacons.
        assert counted(d) == len(acked) + 2
        assert "configuration reload failed" in d.log()
    finally:
        d.kill()
