from __future__ import annotations

import logging
from pathlib import Path

import pytest

from analyticsd.storage.geoip import NO_GEO, GeoInfo, GeoLookup
from tests.geo_fixture import build_city_db


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


def test_no_database_configured_means_no_geo_and_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    geo = GeoLookup("")
    assert not geo.enabled
    assert geo.error is None
    assert geo.lookup("203.0.113.9") == NO_GEO
    assert not caplog.records


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
