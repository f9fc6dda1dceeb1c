"""The status report's problems and disk-full flag, from what the parts say."""

from __future__ import annotations

from datetime import UTC, datetime

from analyticsd.core.status_text import render
from analyticsd.status_report import Live, build
from analyticsd.storage.geoip import GeoLookup
from analyticsd.storage.spool import SpoolStats

SPOOL = SpoolStats(0, 0, 1 << 20, 1, {}, None)


def report(**live: object) -> dict[str, object]:
    state = Live(
        uptime_s=1.0,
        events_per_s_1m=0.0,
        accepted_total=0,
        pending_events=0,
        last_flush_ms=None,
        draining=False,
        **live,  # type: ignore[arg-type]
    )
    return build("/srv/data", SPOOL, 0, 0, state)


def test_all_well_is_no_problem() -> None:
    rep = report()
    assert (rep["problems"], rep["disk_full"]) == ([], False)


def test_a_flush_failing_on_a_full_disk_names_the_data_dir() -> None:
    rep = report(store_error="flush to /srv/data/stats.sqlite3 failed: database or disk is full")
    assert rep["disk_full"] is True
    assert rep["problems"] == [
        "counting is paused (disk full at /srv/data), flushes fail: "
        "flush to /srv/data/stats.sqlite3 failed: database or disk is full"
    ]


def test_a_flush_failing_otherwise_is_not_a_full_disk() -> None:
    rep = report(store_error="flush failed: database is locked")
    assert rep["disk_full"] is False
    assert rep["problems"] == ["counting is paused, flushes fail: flush failed: database is locked"]


def test_files_not_saved_are_problems_and_a_full_disk_says_so() -> None:
    key = "disk full at /srv/data: cannot write /srv/data/session.key"
    rep = report(unsaved=(f"dashboard session key ({key})",))
    assert rep["disk_full"] is True
    assert rep["problems"] == [f"not saved, retried every 30 s: dashboard session key ({key})"]


def geo_report(now_ms: int, geo: dict[str, object]) -> dict[str, object]:
    state = Live(
        uptime_s=1.0,
        events_per_s_1m=0.0,
        accepted_total=0,
        pending_events=0,
        last_flush_ms=None,
        draining=False,
    )
    return build("/srv/data", SPOOL, 0, now_ms, state, geo=geo)


def test_the_bundled_database_is_warned_about_after_six_months() -> None:
    geo = GeoLookup("")  # the bundled database, at injected times after its build
    info = geo.describe()
    geo.close()
    built_s = info["build_epoch"]
    assert isinstance(built_s, int)
    built = datetime.fromtimestamp(built_s, UTC).date().isoformat()

    fresh = geo_report((built_s + 182 * 86400) * 1000, info)
    assert fresh["warnings"] == []
    g = fresh["geoip"]
    assert isinstance(g, dict)
    assert (g["database"], g["built"], g["age_days"], g["stale"]) == ("bundled", built, 182, False)
    assert f"built {built} (182 days ago)" in render(fresh)
    assert "WARNING" not in render(fresh)

    old = geo_report((built_s + 184 * 86400) * 1000, info)
    assert old["status"] == "ok"  # counting goes on: a warning, not a problem
    assert old["problems"] == []
    g = old["geoip"]
    assert isinstance(g, dict)
    assert g["stale"] is True
    assert old["warnings"] == [
        f"the GeoIP database was built on {built}, 184 days ago (older than 6 months: more "
        "and more visitors are placed in the wrong country); `make geoip-update` (or a newer "
        "package) refreshes the bundled one"
    ]
    text = render(old)
    assert "  geoip:        bundled country database (@ip-location-db/" in text
    assert "countries only" in text
    assert "  WARNING:      the GeoIP database was built on" in text


def test_an_old_configured_database_and_one_that_cannot_be_read() -> None:
    info = {
        "database": "configured", "path": "/srv/geo/city.mmdb", "loaded": True,
        "type": "GeoLite2-City", "cities": True, "build_epoch": 1_700_000_000,
        "package": None, "license": None, "error": None,
    }  # fmt: skip
    rep = geo_report((1_700_000_000 + 200 * 86400) * 1000, info)
    assert rep["warnings"] == [
        "the GeoIP database was built on 2023-11-14, 200 days ago (older than 6 months: more "
        "and more visitors are placed in the wrong country); replace the file with a newer "
        "one and reload"
    ]
    assert "geoip:        /srv/geo/city.mmdb (GeoLite2-City): countries, regions, cities" in (
        render(rep)
    )
    error = "GeoIP database '/srv/geo/city.mmdb' cannot be used, running without geo"
    broken = {**info, "loaded": False, "type": None, "cities": False, "build_epoch": None,
              "error": error}  # fmt: skip
    rep = geo_report(0, broken)
    assert rep["warnings"] == [broken["error"]]
    assert "geoip:        not in use, /srv/geo/city.mmdb cannot be read" in render(rep)
    off = GeoLookup("none").describe()
    rep = geo_report(0, off)
    assert rep["warnings"] == []
    assert 'geoip:        off ([geoip] database = "none")' in render(rep)
