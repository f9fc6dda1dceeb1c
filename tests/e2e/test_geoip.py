"""GeoIP through the real daemon: the bundled country database by default,
"none" for no geo, a configured City database instead of the bundled one, a
bad file survived, an old one warned about, a replaced one reopened."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import web
from tests.forwarding import wait_until
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config
from tests.storage.test_geoip import DOCUMENTED

TOKEN = "geoip-token-0123456789abcdef"
API = f"""
[api]
tokens = ["{TOKEN}"]
"""
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"


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
        headers={"X-Forwarded-For": ip, "User-Agent": BROWSER},
        timeout=5,
    )
    assert r.status_code == 202, r.text


def breakdown(d: Daemon, prop: str) -> list[dict[str, Any]]:
    r = web.get(
        f"{d.url}/api/v1/stats/breakdown",
        params={"site_id": TEST_SITE, "property": prop, "period": "day", "metrics": "visitors"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def test_the_bundled_database_locates_with_no_geoip_setting(tmp_path: Path) -> None:
    """A fresh install: no [geoip] section at all; the beacons come through
    the trusted proxy (loopback) with the addresses of public resolvers whose
    country is documented (tests/storage/test_geoip.py says which and why)."""
    port = free_port()
    cfg = write_config(tmp_path, port, extra=API)
    text = cfg.read_text()
    assert '[geoip]\ndatabase = ""\n' in text
    cfg.write_text(text.replace('[geoip]\ndatabase = ""\n', ""))
    d = Daemon(cfg, port)
    d.start()
    try:
        for ip in (*DOCUMENTED, "192.168.1.20", "203.0.113.5", "10.0.0.7"):
            post_from(d, ip)
        d.wait_caught_up()
        want: dict[str, int] = {}
        for country in DOCUMENTED.values():
            want[country] = want.get(country, 0) + 1
        assert countries(tmp_path / "data") == want  # the private ones: no country
        shown = {row["country"]: row["visitors"] for row in breakdown(d, "visit:country")}
        assert shown == want
        assert breakdown(d, "visit:region") == breakdown(d, "visit:city") == []
        geo = d.health()["geoip"]
        assert (geo["database"], geo["loaded"], geo["cities"], geo["error"]) == (
            "bundled", True, False, None,
        )  # fmt: skip
        assert geo["package"].startswith("@ip-location-db/geo-whois-asn-country-mmdb ")
        built = datetime.fromisoformat(geo["built"]).replace(tzinfo=UTC)
        assert geo["stale"] == (geo["age_days"] > 183)
        assert abs((datetime.now(UTC) - built).days - geo["age_days"]) <= 1
        out = d.cli("status").stdout
        assert f"geoip:        bundled country database ({geo['package']}): countries only" in out
        assert "running without geo" not in d.log()
    finally:
        d.kill()


def test_none_turns_geo_off(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, geoip="none"), port)
    d.start()
    try:
        post_from(d, "8.8.8.8")
        d.wait_caught_up()
        assert countries(tmp_path / "data") == {}
        h = d.health()
        assert (h["geoip"]["database"], h["geoip"]["loaded"], h["warnings"]) == ("off", False, [])
        assert 'geoip:        off ([geoip] database = "none")' in d.cli("status").stdout
        assert "level=error" not in d.log()
        assert "without geo" not in d.log()
    finally:
        d.kill()


def test_city_database_locates_visitors(tmp_path: Path) -> None:
    port = free_port()
    geo = build_city_db(tmp_path / "city.mmdb")
    d = Daemon(write_config(tmp_path, port, geoip=str(geo)), port)
    d.start()
    try:
        ips = ("203.0.113.5", "203.0.113.6", "198.51.100.9", "2001:db8:1::1", "10.1.2.3")
        for ip in (*ips, "8.8.8.8"):
            post_from(d, ip)
        d.wait_caught_up()
        # The configured file instead of the bundled one: 8.8.8.8, which only
        # the bundled one knows, has no country now.
        assert countries(tmp_path / "data") == {"DE": 2, "FR": 1, "JP": 1}
        geo = d.health()["geoip"]
        assert (geo["database"], geo["path"], geo["type"], geo["cities"]) == (
            "configured", str(tmp_path / "city.mmdb"), "GeoIP2-City", True,
        )  # fmt: skip
        assert "countries, regions, cities" in d.cli("status").stdout
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
        h = d.health()
        assert h["status"] == "ok"
        assert countries(tmp_path / "data") == {}
        assert d.log().count("running without geo") == 1
        assert h["geoip"]["loaded"] is False
        assert [w for w in h["warnings"] if "running without geo" in w] == [h["geoip"]["error"]]
    finally:
        d.kill()


def age_gauge(d: Daemon) -> float:
    text = d.admin_get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "analyticsd_geoip_database_age_seconds":
            return float(family.samples[0].value)
    raise AssertionError("no analyticsd_geoip_database_age_seconds")


def test_an_old_database_is_warned_about_until_a_newer_one_is_moved_in(tmp_path: Path) -> None:
    """The update path: the same setting, a newer file renamed over the old
    one, SIGHUP; status and health name the new build date."""
    now = int(time.time())
    path = build_city_db(tmp_path / "city.mmdb", build_epoch=now - 200 * 86400)
    port = free_port()
    d = Daemon(write_config(tmp_path, port, geoip=str(path)), port)
    d.start()
    try:
        h = d.health()
        assert h["status"] == "ok"
        assert h["geoip"]["stale"] is True
        assert [w for w in h["warnings"] if "older than 6 months" in w] == [
            f"the GeoIP database was built on {h['geoip']['built']}, 200 days ago (older than 6 "
            "months: more and more visitors are placed in the wrong country); replace the file "
            "with a newer one and reload"
        ]
        assert "  WARNING:      the GeoIP database was built on" in d.cli("status").stdout
        assert age_gauge(d) == pytest.approx(200 * 86400, abs=9000)

        build_city_db(
            path, build_epoch=now - 86400, cities={"203.0.113.0/24": ("AT", "Wien", "Wien")}
        )
        generation = h["reload"]["generation"]
        d.signal(signal.SIGHUP)
        wait_until("reloaded", lambda: d.health()["reload"]["generation"] > generation)
        h = d.health()
        assert (h["reload"]["ok"], h["reload"]["changed"]) == (True, ["geoip"])
        assert (h["geoip"]["stale"], h["warnings"]) == (False, [])
        assert h["geoip"]["age_days"] == pytest.approx(1, abs=0.2)
        post_from(d, "203.0.113.5")
        d.wait_caught_up()
        assert countries(tmp_path / "data") == {"AT": 1}  # the new file's answer
    finally:
        d.kill()
