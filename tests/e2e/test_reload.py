"""SIGHUP under load: a valid change applies live, an invalid file changes
nothing and says why; no acknowledged event is lost or counted twice."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analyticsd.core.status_text import render
from tests import web
from tests.forwarding import caught_up, counted, send, traffic, wait_until
from tests.helpers import Daemon, free_port, write_config

NEW_SITE = """
[[sites]]
id = "new.example"
origins = ["https://new.example"]

[api]
tokens = ["rotated-token-0123456789"]
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
    cfg = write_config(tmp_path, port, extra='[api]\ntokens = ["old-token-0123456789"]\n')
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
        with web.Client(base_url=d.url, timeout=5) as c:
            assert c.post("/api/event", json=_event("new.example")).status_code == 403
            wait_until("load flowing", lambda: len(acked) > 100)
            # A valid change: a new site, a rotated token.
            cfg.write_text(
                original.replace('[api]\ntokens = ["old-token-0123456789"]\n', "") + NEW_SITE
            )
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


def test_reload_turns_forwarding_on_and_off(tmp_path: Path) -> None:
    from tests.forwarding import STREAM, forwarded_all
    from tests.redis_server import redis_server, stream_entries

    with redis_server(tmp_path / "redis") as rs:
        port = free_port()
        cfg = write_config(tmp_path, port)
        plain = cfg.read_text()
        d = Daemon(cfg, port)
        d.start()
        try:
            before = send(d, traffic(50, seed=71))
            assert d.health()["forwarder"]["state"] == "disabled"
            cfg.write_text(
                plain + f'\n[forward]\nenabled = true\nredis_url = "{rs.url}"\n'
                f'stream = "{STREAM}"\nprobe_interval_s = 0.2\n'
            )
            d.signal(signal.SIGHUP)
            wait_until("forwarding on", lambda: d.health()["forwarder"]["state"] == "healthy")
            after = send(d, traffic(60, seed=72))
            wait_until("forwarded", lambda: forwarded_all(d))
            ids = {f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)}
            # From the reload on every event goes out (what was counted and
            # freed before forwarding existed is not in the spool any more).
            assert set(after) <= ids
            assert ids <= set(before) | set(after)
            cfg.write_text(plain)
            d.signal(signal.SIGHUP)
            wait_until("forwarding off", lambda: d.health()["forwarder"]["state"] == "disabled")
            send(d, traffic(40, seed=73))
            wait_until("counted", lambda: caught_up(d, 150))
            assert d.health()["spool"]["events"] == 0  # nobody waits for the forwarder now
            assert len(stream_entries(rs.client(), STREAM)) == len(ids)
        finally:
            d.kill()


def _countries(d: Daemon) -> dict[str, int]:
    import sqlite3

    db = d.config.parent / "data" / "stats.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return dict(c.execute("SELECT val, visits FROM agg WHERE dim = 16 AND gran = 1"))


def test_reload_picks_up_a_geoip_database(tmp_path: Path) -> None:
    from tests.geo_fixture import build_city_db

    port = free_port()
    cfg = write_config(tmp_path, port)
    d = Daemon(cfg, port)
    d.start()
    try:
        from tests.forwarding import UAS

        ua = UAS[0]  # a desktop browser: bots have no visits or countries
        send(d, [("203.0.113.7", ua, traffic(1, seed=75)[0][2])])
        db = build_city_db(tmp_path / "city.mmdb")
        cfg.write_text(cfg.read_text().replace('database = ""', f'database = "{db}"'))
        d.signal(signal.SIGHUP)
        wait_until("reloaded", lambda: (d.health()["reload"].get("changed") or []) == ["geoip"])
        send(d, [("198.51.100.9", ua, traffic(1, seed=76)[0][2])])
        wait_until("counted", lambda: caught_up(d, 2))
        wait_until("flushed", lambda: "FR" in _countries(d), timeout=10)
        assert "DE" not in _countries(d)  # before the reload there was no database
    finally:
        d.kill()
