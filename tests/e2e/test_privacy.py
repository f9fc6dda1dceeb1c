"""Privacy scan: after traffic is processed, no IP address or user agent string
is anywhere in the data directory or the log, and no old salt survives."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyticsd.core.visitor import salt_day
from tests import web
from tests.geo_fixture import build_city_db
from tests.helpers import Daemon, free_port, recent_events, write_config

IPS = ["203.0.113.77", "198.51.100.201", "2001:db8:1::4242"]
# With the bundled country database (the default): public resolvers'
# addresses, which it places (tests/storage/test_geoip.py says why these).
PUBLIC_IPS = ["8.8.8.8", "77.88.8.8", "2001:4860:4860::8888"]
# Real browsers, each made unique by a token no analytics table would hold.
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0 Zqxwv81",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1 Zqxwv82",
]


def needles(ips: list[str] = IPS) -> list[bytes]:
    found: list[bytes] = []
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        found += [ip.encode(), ip.encode("utf-16-le")]
        if addr.version == 6:
            found += [addr.exploded.encode(), addr.packed]
    for ua in UAS:
        found += [ua.encode(), ua[:40].encode(), ua[-30:].encode(), ua.encode("utf-16-le")]
    found += [b"Zqxwv81", b"Zqxwv82"]
    return found


def scan(root: Path, ips: list[str] = IPS) -> list[tuple[str, bytes]]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [(str(path.relative_to(root)), n) for n in needles(ips) if n in data]
    return hits


@pytest.mark.slow
@pytest.mark.parametrize("database", ["city", "bundled"])
def test_no_ip_or_user_agent_is_stored_and_old_salts_are_gone(
    tmp_path: Path, database: str
) -> None:
    if database == "city":
        ips, geo, located = IPS, str(build_city_db(tmp_path / "city.mmdb")), {"DE", "FR", "JP"}
    else:
        ips, geo, located = PUBLIC_IPS, "", {"US", "RU"}
    port = free_port()
    d = Daemon(write_config(tmp_path, port, geoip=geo), port)
    d.start()
    try:
        with web.Client(timeout=10) as client:
            for round_ in range(3):
                for ip in ips:
                    for ua in UAS:
                        headers = {"User-Agent": ua, "X-Forwarded-For": ip}
                        events = recent_events(40, f"/r{round_}", 4)
                        r = client.post(
                            f"{d.url}/api/batch", json={"events": events}, headers=headers
                        )
                        assert r.status_code == 202, r.text
                        r = client.post(f"{d.url}/api/event", json=events[0], headers=headers)
                        assert r.status_code == 202  # a duplicate eventId: accepted, counted once
                d.wait_caught_up()
        # The traffic was counted as browsers (not bots), located, and the
        # stats are there: the facts were kept, the identifiers were not.
        today = datetime.now(UTC).date().isoformat()
        stats = d.stats(today).json()
        assert stats["totalViews"] == 3 * len(ips) * len(UAS) * 40
        assert stats["uniqueUsers"] == len(ips) * len(UAS)
        assert d.stop() == 0
    finally:
        d.kill()
    data = tmp_path / "data"
    assert scan(data, ips) == []
    # The log never names a client either.
    assert d.log_path is not None
    log = d.log_path.read_bytes()
    assert [n for n in needles(ips) if n in log] == []
    # Only yesterday's, today's and tomorrow's salts may exist.
    salts = json.loads((data / "salts.json").read_text())
    today_no = salt_day(int(time.time() * 1000))
    assert {int(k) for k in salts} <= {today_no - 1, today_no, today_no + 1}
    assert (data / "salts.json").stat().st_mode & 0o077 == 0
    # The geo facts did arrive (so the lookups really ran on these addresses).
    db = sqlite3.connect(f"file:{data / 'stats.sqlite3'}?mode=ro", uri=True)
    countries = {v for (v,) in db.execute("SELECT DISTINCT val FROM agg WHERE dim = 16")}
    db.close()
    assert countries == located


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "leak.bin").write_bytes(b"\x00junk" + IPS[2].encode() + b"junk")
    (tmp_path / "ua.txt").write_text("x" + UAS[0][:45])
    hits = {path for path, _ in scan(tmp_path)}
    assert hits == {"sub/leak.bin", "ua.txt"}
