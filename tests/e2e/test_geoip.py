"""GeoIP through the real daemon: a good database locates, a bad one is survived."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests import web
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config


def countries(data: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{data / 'stats.sqlite3'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT val, visitors FROM agg WHERE dim = 16 AND gran = 1"))
    finally:
        db.close()


def post_from(d: Daemon, ip: str) -> None:
    r = web.post(
        f"{d.url}/api/event",
        json={"siteId": TEST_SITE, "eventType": "pageview", "path": "/"},
        headers={"X-Forwarded-For": ip},
        timeout=5,
    )
    assert r.status_code == 202, r.text


def test_city_database_locates_visitors(tmp_path: Path) -> None:
    port = free_port()
    geo = build_city_db(tmp_path / "city.mmdb")
    d = Daemon(write_config(tmp_path, port, geoip=str(geo)), port)
    d.start()
    try:
        for ip in ("203.0.113.5", "203.0.113.6", "198.51.100.9", "2001:db8:1::1", "10.1.2.3"):
            post_from(d, ip)
        d.wait_caught_up()
        assert countries(tmp_path / "data") == {"DE": 2, "FR": 1, "JP": 1}
    finally:
        d.kill()


@pytest.mark.parametrize("content", [None, b"\x00garbage, not an mmdb" * 50])
def test_missing_or_corrupt_database_is_one_log_line(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "broken.mmdb"
    if content is not None:
        path.write_bytes(content)
    port = free_port()
    d = Daemon(write_config(tmp_path, port, geoip=str(path)), port)
    d.start()
    try:
        post_from(d, "203.0.113.5")
        d.wait_caught_up()
        assert d.health()["status"] == "ok"
        assert countries(tmp_path / "data") == {}
        assert d.log().count("running without geo") == 1
    finally:
        d.kill()
