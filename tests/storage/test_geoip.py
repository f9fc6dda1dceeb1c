from __future__ import annotations

import hashlib
import logging
import tomllib
from pathlib import Path

import pytest

from analyticsd.storage import geoip
from analyticsd.storage.geoip import NO_GEO, GeoInfo, GeoLookup, bundled_path
from tests.geo_fixture import build_city_db, build_country_code_db


def test_city_lookup(tmp_path: Path) -> None:
    geo = GeoLookup(str(build_city_db(tmp_path / "city.mmdb")))
    assert geo.enabled
    assert geo.error is None
    assert geo.lookup("203.0.113.9") == GeoInfo("DE", "Berlin", "Berlin")
    assert geo.lookup("198.51.100.200") == GeoInfo("FR", "Île-de-France", "Paris")
    assert geo.lookup("2001:db8:1::5") == GeoInfo("JP", "Tokyo", "Tokyo")
    assert geo.lookup("192.0.2.1") == GeoInfo("NL", "", "")  # country-level record
    assert geo.lookup("10.0.0.1") == NO_GEO  # not in the database
    assert geo.lookup("not an ip") == NO_GEO
    assert geo.lookup("") == NO_GEO
    geo.close()


# Public DNS resolvers whose operators publish these addresses and whose
# registration (RIR whois, the operator's own geofeed) names one country that
# has not changed in a decade: the stable, documented cases the bundled
# database must place. An update of the database that moves one of them is
# a regression of the data (or the world changed): look before re-pinning.
DOCUMENTED = {
    "8.8.8.8": "US",  # Google Public DNS (Google LLC, ARIN)
    "8.8.4.4": "US",  # Google Public DNS
    "2001:4860:4860::8888": "US",  # Google Public DNS over IPv6
    "77.88.8.8": "RU",  # Yandex.DNS (Yandex LLC, RIPE NCC)
    "168.126.63.1": "KR",  # KT Corporation's public resolver (KRNIC/APNIC)
    "114.114.114.114": "CN",  # 114DNS (Nanjing Xinfeng, CNNIC/APNIC)
}
# Nobody's location, which the bundled (whois-derived) data still places in
# the country of the registry listing some of them (192.168.0.0/16 and the
# documentation blocks in AU, 2001:db8::/32 in JP): answered as unknown.
NOT_LOCATABLE = [
    "192.168.1.10", "172.16.5.4", "10.0.0.1", "127.0.0.1", "100.64.0.1", "203.0.113.5",
    "198.51.100.9", "192.0.2.1", "2001:db8::1", "fe80::1", "fd00::1", "::1",
    "::ffff:192.168.0.1", "224.0.0.251",
]  # fmt: skip


def test_the_default_is_the_bundled_country_database() -> None:
    geo = GeoLookup("")
    assert geo.enabled, geo.error
    assert (geo.source, geo.path, geo.error) == ("bundled", bundled_path(), None)
    for ip, country in DOCUMENTED.items():
        assert geo.lookup(ip) == GeoInfo(country, "", ""), ip  # countries only
    for ip in NOT_LOCATABLE:
        assert geo.lookup(ip) == NO_GEO, ip
    assert geo.lookup("not an ip") == NO_GEO
    info = geo.describe()
    manifest = tomllib.loads(Path(bundled_path()).with_name("bundled.toml").read_text())
    assert info["package"] == f"{manifest['package']} {manifest['version']}"
    assert "CC-BY-4.0" in info["license"]
    assert "NRO" in info["license"]
    assert (info["database"], info["loaded"], info["cities"]) == ("bundled", True, False)
    assert isinstance(info["build_epoch"], int)
    # The installed file is the pinned one.
    data = Path(bundled_path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["mmdb_sha256"]
    assert Path(bundled_path()).with_name("country-LICENSE.txt").read_text().count("nro.net") >= 1
    geo.close()


def test_none_turns_geo_off_without_an_error(caplog: pytest.LogCaptureFixture) -> None:
    geo = GeoLookup("none")
    assert not geo.enabled
    assert geo.error is None
    assert geo.lookup("8.8.8.8") == NO_GEO
    assert geo.describe()["database"] == "off"
    assert not geo.changed_on_disk()
    assert not caplog.records


def test_a_configured_database_replaces_the_bundled_one(tmp_path: Path) -> None:
    geo = GeoLookup(str(build_city_db(tmp_path / "city.mmdb")))
    assert (geo.source, geo.cities) == ("configured", True)
    assert geo.lookup("8.8.8.8") == NO_GEO  # not in the City file: no fallback
    # A configured file is taken as it is, documentation blocks included.
    assert geo.lookup("203.0.113.9") == GeoInfo("DE", "Berlin", "Berlin")
    info = geo.describe()
    assert (info["type"], info["package"], info["license"]) == ("GeoIP2-City", None, None)


def test_a_country_database_in_the_ip_location_db_layout(tmp_path: Path) -> None:
    geo = GeoLookup(str(build_country_code_db(tmp_path / "c.mmdb", {"192.0.2.0/24": "NL"})))
    assert not geo.cities
    assert geo.lookup("192.0.2.7") == GeoInfo("NL", "", "")


def test_a_missing_bundled_database_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(geoip, "bundled_path", lambda: str(tmp_path / "country.mmdb"))
    with caplog.at_level(logging.ERROR):
        geo = GeoLookup("")
    assert not geo.enabled
    assert geo.error is not None
    assert "make install" in geo.error
    assert "running without geo" in geo.error
    assert [r.getMessage() for r in caplog.records] == [geo.error]
    assert geo.lookup("8.8.8.8") == NO_GEO


def test_a_file_moved_into_place_is_seen_as_changed(tmp_path: Path) -> None:
    path = build_city_db(tmp_path / "city.mmdb", build_epoch=1_700_000_000)
    geo = GeoLookup(str(path))
    assert not geo.changed_on_disk()
    build_city_db(path, build_epoch=1_760_000_000)  # written aside, renamed over
    assert geo.changed_on_disk()
    assert geo.lookup("203.0.113.9").city == "Berlin"  # the old mapping still answers
    assert GeoLookup(str(path)).describe()["build_epoch"] == 1_760_000_000
    path.unlink()
    assert geo.changed_on_disk()
    geo.close()


@pytest.mark.parametrize("content", [None, b"", b"this is not a maxmind database" * 100])
def test_missing_or_corrupt_database_logs_once_and_runs_without_geo(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | None
) -> None:
    path = tmp_path / "broken.mmdb"
    if content is not None:
        path.write_bytes(content)
    with caplog.at_level(logging.ERROR):
        geo = GeoLookup(str(path))
    assert not geo.enabled
    assert geo.error is not None
    assert "running without geo" in geo.error
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    assert geo.lookup("203.0.113.9") == NO_GEO


def test_truncated_database_is_refused_or_answers_unknown(tmp_path: Path) -> None:
    good = build_city_db(tmp_path / "city.mmdb").read_bytes()
    path = tmp_path / "cut.mmdb"
    path.write_bytes(good[: len(good) // 2])
    geo = GeoLookup(str(path))
    # Cut in half the metadata is gone, so the reader refuses the file.
    assert not geo.enabled
    assert geo.lookup("203.0.113.9") == NO_GEO
