"""`analyticsd import plausible`: a small hand-made export through the real CLI,
then a real daemon's v1 and v2 answers with and without imports, against
numbers computed by hand; importing twice counts once; bad zips change nothing."""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, recent_events, write_config

TODAY = datetime.now(UTC).date()
D1, D2, D3 = (TODAY - timedelta(days=n) for n in (10, 9, 8))
SUFFIX = f"_{D1:%Y%m%d}_{D3:%Y%m%d}.csv"
GOALS = '[[sites.goals]]\nevent = "Signup"\n[[sites.goals]]\npage = "/pricing"\n'
HEADERS = {
    "imported_visitors": "date,visitors,pageviews,bounces,visits,visit_duration",
    "imported_sources": "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,"
    "utm_term,pageviews,visitors,visits,visit_duration,bounces",
    "imported_pages": "date,hostname,page,visits,visitors,pageviews,total_scroll_depth",
    "imported_custom_events": "date,name,link_url,path,visitors,events",
    "imported_devices": "date,device,visitors,visits,visit_duration,bounces,pageviews",
}


def export_rows(day1_visitors: int = 10) -> dict[str, list[list[Any]]]:
    d1, d2 = D1.isoformat(), D2.isoformat()
    return {
        "imported_visitors": [[d1, day1_visitors, 30, 4, 12, 600], [d2, 20, 50, 6, 24, 1200]],
        "imported_sources": [
            [d1, "", "", "", "", "", "", "", 10, 4, 5, 100, 2],
            [d1, "Google", "google.com", "", "", "", "", "", 20, 6, 7, 500, 2],
            [d2, "Google", "google.com", "", "", "", "", "", 50, 20, 24, 1200, 6],
        ],
        "imported_pages": [
            [d1, "example.com", "/", 8, 7, 20, None],
            [d1, "example.com", "/pricing", 4, 3, 10, None],
            [d2, "example.com", "/", 20, 18, 50, None],
        ],
        "imported_custom_events": [[d1, "Signup", "", "", 2, 3]],
        "imported_devices": [
            [d1, "Desktop", 6, 7, 400, 3, 20],
            [d1, "Mobile", 4, 5, 200, 1, 10],
            [d2, "Laptop", 20, 24, 1200, 6, 50],
        ],
    }


def _csv(header: str, rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    buf.write(",".join(f'"{h}"' for h in header.split(",")) + "\n")
    for row in rows:  # ClickHouse writes a NULL as \N
        w.writerow(["\\N" if v is None else v for v in row])
    return buf.getvalue().replace('"\\N"', "\\N")


def write_export(path: Path, tables: dict[str, list[list[Any]]], headers: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, rows in tables.items():
            zf.writestr(name + SUFFIX, _csv(headers[name], rows))
    return path


def snapshot(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (and the table list) of the stats database."""
    db = sqlite3.connect(f"file:{data_dir / 'stats.sqlite3'}?mode=ro", uri=True)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(db.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    finally:
        db.close()


def v1(d: Daemon, endpoint: str, **params: str) -> dict[str, Any]:
    params = {"site_id": TEST_SITE, "period": "custom", "date": f"{D1},{TODAY}", **params}
    r = web.get(f"{d.url}/api/v1/stats/{endpoint}", params=params, headers=d.auth(), timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def v2(d: Daemon, **body: Any) -> dict[str, Any]:
    body = {"site_id": TEST_SITE, "date_range": [str(D1), str(TODAY)], **body}
    r = web.post(f"{d.url}/api/v2/query", json=body, headers=d.auth(), timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _import(d: Daemon, path: Path) -> tuple[int, str, str]:
    p = d.cli("import", "plausible", "--site", TEST_SITE, str(path))
    return p.returncode, p.stdout, p.stderr


def test_import_then_answers_with_and_without_imports(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, site_extra=GOALS), port)
    d.start()
    try:
        # One live visit today: 3 page views at once (duration 0), desktop, direct.
        r = web.post(f"{d.url}/api/batch", json={"events": recent_events(3, "/live", 1)})
        assert r.status_code == 202, r.text
        d.wait_caught_up()
        export = write_export(tmp_path / "export.zip", export_rows(), HEADERS)
        code, out, err = _import(d, export)
        assert code == 0, err
        assert "80 page views, 30 visitors" in out

        metrics = "visitors,pageviews,visits,bounce_rate,visit_duration"
        live = v1(d, "aggregate", metrics=metrics)["results"]
        assert {m: v["value"] for m, v in live.items()} == {
            "visitors": 1, "pageviews": 3, "visits": 1, "bounce_rate": 0, "visit_duration": 0,
        }  # fmt: skip
        both = v1(d, "aggregate", metrics=metrics, with_imported="true")["results"]
        # visits 1 + 36; bounces 0 + 10 → 27 %; duration (0 + 1800 s) / 37 → 49 s
        assert {m: v["value"] for m, v in both.items()} == {
            "visitors": 31, "pageviews": 83, "visits": 37, "bounce_rate": 27, "visit_duration": 49,
        }  # fmt: skip

        sources = v1(d, "breakdown", property="visit:source", with_imported="true")["results"]
        assert sources == [
            {"source": "Google", "visitors": 26},
            {"source": "Direct / None", "visitors": 5},
        ]
        pages = v1(
            d,
            "breakdown",
            property="event:page",
            metrics="visitors,pageviews",
            with_imported="true",
        )["results"]
        assert pages == [
            {"page": "/", "visitors": 25, "pageviews": 70},
            {"page": "/pricing", "visitors": 3, "pageviews": 10},
            {"page": "/live0", "visitors": 1, "pageviews": 3},
        ]
        goals = v1(
            d, "breakdown", property="event:goal", metrics="visitors,events,conversion_rate",
            with_imported="true",
        )["results"]  # fmt: skip
        assert goals == [
            {"goal": "Visit /pricing", "visitors": 3, "events": 10, "conversion_rate": 9.68},
            {"goal": "Signup", "visitors": 2, "events": 3, "conversion_rate": 6.45},
        ]
        devices = v1(d, "breakdown", property="visit:device", with_imported="true")["results"]
        assert devices == [
            {"device": "Desktop", "visitors": 27},
            {"device": "Mobile", "visitors": 4},
        ]
        series = v1(
            d, "timeseries", interval="date", metrics="visitors,pageviews", with_imported="true"
        )["results"]
        by_day = {p["date"]: (p["visitors"], p["pageviews"]) for p in series}
        assert by_day[str(D1)] == (10, 30)
        assert by_day[str(D2)] == (20, 50)
        assert by_day[str(D3)] == (0, 0)
        assert by_day[str(TODAY)] == (1, 3)
        # One imported table cannot answer a source breakdown filtered by country.
        mixed = v1(
            d, "breakdown", property="visit:source", filters="visit:country==US",
            with_imported="true",
        )  # fmt: skip
        assert "not supported" in mixed["warning"]

        plain = v2(d, metrics=["visitors", "pageviews"])
        assert plain["results"] == [{"metrics": [1, 3], "dimensions": []}]
        assert "imports_included" not in plain["meta"]
        with_imports = v2(d, metrics=["visitors", "pageviews"], include={"imports": True})
        assert with_imports["results"] == [{"metrics": [31, 83], "dimensions": []}]
        assert with_imports["meta"] == {"imports_included": True}
        channel = v2(
            d, metrics=["visitors"], dimensions=["visit:channel"], include={"imports": True}
        )
        assert channel["results"] == [
            {"metrics": [26], "dimensions": ["Organic Search"]},
            {"metrics": [5], "dimensions": ["Direct"]},
        ]
        pricing = v2(
            d, metrics=["visitors", "pageviews"], include={"imports": True},
            filters=[["contains", "event:page", ["pric"]]],
        )  # fmt: skip
        assert pricing["results"] == [{"metrics": [3, 10], "dimensions": []}]
        google = v2(
            d, metrics=["visitors"], include={"imports": True},
            filters=[["is", "visit:source", ["google"], {"case_sensitive": False}]],
        )  # fmt: skip
        assert google["results"] == [{"metrics": [26], "dimensions": []}]
        hourly = v2(
            d, metrics=["visitors"], dimensions=["time:hour"], include={"imports": True},
            date_range=[str(D1), str(D2)],
        )  # fmt: skip
        assert hourly["meta"]["imports_skip_reason"] == "unsupported_interval"
        later = v2(
            d, metrics=["visitors"], include={"imports": True},
            date_range=[str(TODAY - timedelta(days=3)), str(TODAY)],
        )  # fmt: skip
        assert later["meta"] == {"imports_included": False, "imports_skip_reason": "out_of_range"}
        other = v2(d, site_id="other.example", metrics=["visitors"], include={"imports": True})
        assert other["meta"]["imports_skip_reason"] == "no_imported_data"

        # Twice: the same export counts once.
        before = snapshot(tmp_path / "data")
        code, out, err = _import(d, export)
        assert code == 0, err
        again = v1(d, "aggregate", metrics=metrics, with_imported="true")["results"]
        assert again == both
        assert {k: v for k, v in snapshot(tmp_path / "data").items() if k != "imports"} == {
            k: v for k, v in before.items() if k != "imports"
        }
        # A new export of the same days replaces the old one, and the cached
        # answer is not served (the import stamp is part of its generation).
        url = f"{d.url}/api/v1/stats/aggregate"
        ask = {"site_id": TEST_SITE, "period": "custom", "date": f"{D1},{TODAY}",
               "with_imported": "true"}  # fmt: skip
        for cache in ("miss", "hit"):
            r = web.get(url, params=ask, headers=d.auth(), timeout=10)
            assert (r.headers["X-Cache"], r.json()["results"]["visitors"]["value"]) == (cache, 31)
        code, _, err = _import(
            d, write_export(tmp_path / "new.zip", export_rows(day1_visitors=100), HEADERS)
        )
        assert code == 0, err
        r = web.get(url, params=ask, headers=d.auth(), timeout=10)
        assert (r.headers["X-Cache"], r.json()["results"]["visitors"]["value"]) == ("miss", 121)

        # History beyond the per-event retention (30 days): a filtered
        # question is answered from the imported rows, and refused without.
        old = TODAY - timedelta(days=60)
        path = tmp_path / "old.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(
                f"imported_sources_{old:%Y%m%d}_{old:%Y%m%d}.csv",
                _csv(HEADERS["imported_sources"],
                     [[str(old), "Bing", "bing.com", "", "", "", "", "", 9, 4, 5, 50, 1]]),
            )  # fmt: skip
        assert _import(d, path)[0] == 0
        ask = {"site_id": TEST_SITE, "period": "custom", "date": f"{old},{old}",
               "property": "visit:source", "filters": "visit:source!=Google"}  # fmt: skip
        r = web.get(f"{d.url}/api/v1/stats/breakdown", params=ask, headers=d.auth(), timeout=10)
        assert r.status_code == 400
        assert "raw_event_retention_days" in r.json()["error"]
        r = web.get(
            f"{d.url}/api/v1/stats/breakdown", params={**ask, "with_imported": "true"},
            headers=d.auth(), timeout=10,
        )  # fmt: skip
        assert r.json()["results"] == [{"source": "Bing", "visitors": 4}]
    finally:
        d.stop()


def _truncated(tmp: Path) -> Path:
    whole = write_export(tmp / "whole.zip", export_rows(), HEADERS).read_bytes()
    path = tmp / "truncated.zip"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _bad_header(tmp: Path) -> Path:
    headers = {**HEADERS, "imported_visitors": "date,visitors,pageviews"}
    return write_export(tmp / "header.zip", export_rows(), headers)


def _bad_row(tmp: Path) -> Path:
    tables = export_rows()
    tables["imported_pages"][1][5] = "ten"
    return write_export(tmp / "row.zip", tables, HEADERS)


def _bad_date(tmp: Path) -> Path:
    tables = export_rows()
    tables["imported_devices"][2][0] = "2024-02-30"
    return write_export(tmp / "date.zip", tables, HEADERS)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_truncated, "truncated.zip: not a readable zip file"),
        (_bad_header, f"imported_visitors{SUFFIX}: the header lacks bounces, visits"),
        (_bad_row, f"imported_pages{SUFFIX}, line 3: pageviews 'ten' is not a whole number"),
        (_bad_date, f"imported_devices{SUFFIX}, line 4: date '2024-02-30' is not a calendar day"),
    ],
)
def test_a_bad_export_is_refused_and_changes_nothing(
    tmp_path: Path, make: Any, expected: str
) -> None:
    d = Daemon(write_config(tmp_path, free_port(), site_extra=GOALS), 0)
    good = write_export(tmp_path / "good.zip", export_rows(day1_visitors=7), HEADERS)
    assert _import(d, good)[0] == 0
    before = snapshot(tmp_path / "data")
    code, out, err = _import(d, make(tmp_path))
    assert code == 1
    assert out == ""
    assert err.startswith("analyticsd: ")
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path / "data") == before


def test_an_unknown_site_or_file_is_refused(tmp_path: Path) -> None:
    d = Daemon(write_config(tmp_path, free_port()), 0)
    export = write_export(tmp_path / "export.zip", export_rows(), HEADERS)
    p = d.cli("import", "plausible", "--site", "nope.example", str(export))
    assert p.returncode == 1
    assert "'nope.example' is not a configured site" in p.stderr
    stray = tmp_path / "stray.zip"
    with zipfile.ZipFile(stray, "w") as zf:
        zf.writestr("notes.txt", "hello")
    code, _, err = _import(d, stray)
    assert code == 1
    assert "notes.txt is not a file of a Plausible export" in err
    assert not (tmp_path / "data" / "stats.sqlite3").exists()


def test_days_after_live_counts_began_are_left_out(tmp_path: Path) -> None:
    """As Plausible's import: history ends where the site's live counts begin."""
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)
    d.start()
    try:
        r = web.post(f"{d.url}/api/batch", json={"events": recent_events(1, "/x", 1)})
        assert r.status_code == 202
        d.wait_caught_up()
    finally:
        d.stop()
    future = TODAY + timedelta(days=2)
    rows = {"imported_visitors": [[str(D1), 5, 9, 1, 6, 60], [str(future), 50, 90, 1, 60, 60]]}
    path = tmp_path / "late.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            f"imported_visitors_{D1:%Y%m%d}_{future:%Y%m%d}.csv",
            _csv(HEADERS["imported_visitors"], rows["imported_visitors"]),
        )
    code, out, err = _import(d, path)
    assert code == 0, err
    assert f"imported {D1} to {TODAY} for {TEST_SITE}: 9 page views, 5 visitors" in out
    assert f"the export runs to {future}" in out
