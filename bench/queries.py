"""Stats API query timings on the 10-million-page-view fixture.

Two measurements per question:
* engine: the query code in this process on a read connection (no HTTP, no
  cache), median of REPEAT runs after one warm-up; this is what the targets
  are about;
* http: the real daemon serving the fixture (a copy), first call (a cache
  miss) and a repeated call (a cache hit), with the bearer token.

Side by side, as the reference of this run: the same 30-day top-pages
question answered from the per-event rows instead of the rollups.

    python -m bench.queries [--pageviews N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from analyticsd.core.aggregate import day_number
from analyticsd.core.query import Query, parse_query
from analyticsd.storage.columnstore import ColumnStore
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports
from analyticsd.storage.statsdb import FILENAME, connect_readonly
from bench import stats_fixture
from bench.common import free_port, process

TOKEN = "bench-token-0123456789abcdef"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
REPEAT = 5
SITE = stats_fixture.BIG
# (label, endpoint, parameters, target ms or None)
QUESTIONS: list[tuple[str, str, dict[str, str], float | None]] = [
    (
        "year timeseries, daily points",
        "timeseries",
        {"period": "custom", "metrics": "visitors,pageviews,bounce_rate,visit_duration"},
        300,
    ),
    (
        "year timeseries, monthly points",
        "timeseries",
        {"period": "12mo", "metrics": "visitors,pageviews,bounce_rate,visit_duration"},
        300,
    ),
    (
        "year top pages (breakdown)",
        "breakdown",
        {
            "period": "custom",
            "property": "event:page",
            "metrics": "visitors,pageviews",
            "limit": "10",
        },
        300,
    ),
    (
        "year top sources (breakdown)",
        "breakdown",
        {
            "period": "custom",
            "property": "visit:source",
            "metrics": "visitors,visits,bounce_rate",
            "limit": "10",
        },
        300,
    ),
    (
        "30-day aggregate, every metric, compare",
        "aggregate",
        {
            "period": "30d",
            "metrics": "visitors,visits,pageviews,views_per_visit,bounce_rate,"
            "visit_duration,events,revenue",
            "compare": "previous_period",
        },
        50,
    ),
    ("30-day timeseries", "timeseries", {"period": "30d", "metrics": "visitors,pageviews"}, 50),
    (
        "30-day hourly timeseries",
        "timeseries",
        {"period": "30d", "interval": "hour", "metrics": "visitors,pageviews"},
        50,
    ),
    (
        "30-day top pages",
        "breakdown",
        {"period": "30d", "property": "event:page", "metrics": "visitors,pageviews", "limit": "10"},
        50,
    ),
    (
        "30-day countries",
        "breakdown",
        {"period": "30d", "property": "visit:country", "metrics": "visitors", "limit": "10"},
        50,
    ),
    (
        "30-day goals + conversion rate",
        "breakdown",
        {"period": "30d", "property": "event:goal", "metrics": "visitors,events,conversion_rate"},
        50,
    ),
    (
        "30-day pages of Google|Bing visits (per-event rows)",
        "breakdown",
        {
            "period": "30d",
            "property": "event:page",
            "filters": "visit:source==Google|Bing",
            "metrics": "visitors,pageviews",
            "limit": "10",
        },
        None,
    ),
    (
        "7-day pages of mobile visits (per-event rows)",
        "breakdown",
        {
            "period": "7d",
            "property": "event:page",
            "filters": "visit:device==Mobile",
            "metrics": "visitors,pageviews",
            "limit": "10",
        },
        None,
    ),
    (
        "12-month weekly rollups with growth",
        "rollups",
        {"period": "12mo", "interval": "week", "metrics": "visitors,pageviews"},
        None,
    ),
]


def _year(params: dict[str, str], today: int) -> dict[str, str]:
    if params.get("period") == "custom":
        from analyticsd.core.aggregate import day_label

        return {**params, "date": f"{day_label(today - 364)},{day_label(today)}"}
    return params


def _median_ms(fn: Callable[[], object]) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times)


def engine_timings(data: Path, tz: str, today: int, horizon_ms: int) -> dict[str, Any]:
    # As the daemon runs them: per-event questions on the column store (its
    # first one builds the copy from SQLite, in that question's first_ms).
    columns = ColumnStore(str(data))
    engine = QueryEngine(connect_readonly(str(data / FILENAME)), columns=columns)
    out: dict[str, Any] = {}
    for label, endpoint, params, _ in QUESTIONS:
        q = parse_query(endpoint, {"site_id": SITE, **_year(params, today)}, tz, today, {})
        reports = Reports(engine, {}, horizon_ms)

        def run(q: Query = q, endpoint: str = endpoint, reports: Reports = reports) -> object:
            if endpoint == "rollups":
                return reports.rollups(q, today)
            return getattr(reports, endpoint)(q)

        first, median = _median_ms(run)
        out[label] = {"first_ms": round(first, 1), "median_ms": round(median, 1)}
    # The reference: 30-day top pages from per-event rows (what the rollups save).
    q = parse_query(
        "breakdown",
        {
            "site_id": SITE,
            "period": "30d",
            "property": "event:page",
            "metrics": "visitors,pageviews",
            "limit": "10",
        },
        tz,
        today,
        {},
    )
    first, median = _median_ms(lambda: engine.per_event(q, "none", {}, horizon_ms))
    out["reference: 30-day top pages from per-event rows"] = {
        "first_ms": round(first, 1),
        "median_ms": round(median, 1),
    }
    engine.realtime(SITE, int(time.time() * 1000))
    first, median = _median_ms(lambda: engine.realtime(SITE, int(time.time() * 1000)))
    out["realtime visitors"] = {
        "first_ms": round(first, 1),
        "median_ms": round(median, 1),
        "value": engine.realtime(SITE, int(time.time() * 1000)),
    }
    engine.close()
    columns.close()
    return out


def _config(tmp: Path, port: int, data: Path) -> Path:
    sites = "\n".join(
        f'[[sites]]\nid = "{s}"\norigins = ["https://{s}"]\ntimezone = "{tz}"\n'
        for s, tz in stats_fixture.TZ.items()
    )
    path = tmp / "queries.toml"
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n\n[storage]\ndata_dir = "{data}"\n'
        f"raw_event_retention_days = {stats_fixture.RETENTION_DAYS}\n\n"
        f'[api]\ntokens = ["{TOKEN}"]\n\n{sites}'
    )
    return path


def http_timings(tmp: Path, data: Path, today: int) -> dict[str, Any]:
    port = free_port()
    cfg = _config(tmp, port, data)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[str, Any] = {}
    with (
        process(
            [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)],
            port,
            tmp / "queries.log",
        ),
        httpx.Client(timeout=60) as client,
    ):
        # Live traffic for the realtime question: 100 visitors now.
        now = datetime.now(UTC).isoformat()
        for k in range(100):
            r = client.post(
                f"{base}/api/event",
                json={"siteId": SITE, "eventType": "pageview", "path": "/", "timestamp": now},
                headers={
                    "X-Forwarded-For": f"127.0.{k // 250}.{k % 250 + 1}",
                    "User-Agent": UA,
                },
            )
            r.raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            h = client.get(f"{base}/api/health").json()
            if h["aggregator"]["lag_events"] == 0:
                break
            time.sleep(0.1)
        time.sleep(1)
        for label, endpoint, params, _ in [
            *QUESTIONS,
            ("realtime visitors", "realtime/visitors", {}, 20),
        ]:
            url = f"{base}/api/v1/stats/{endpoint}"
            args = {"site_id": SITE, **_year(params, today)}
            t0 = time.perf_counter()
            r1 = client.get(url, params=args, headers=auth)
            t1 = time.perf_counter()
            r2 = client.get(url, params=args, headers=auth)
            t2 = time.perf_counter()
            r1.raise_for_status()
            assert r1.json() == r2.json()
            # More cache misses of the same question (Cache-Control: no-cache
            # asks the daemon for a fresh answer), so the figure is not only
            # the first, cold call of a fresh connection.
            misses = []
            for _ in range(REPEAT):
                start = time.perf_counter()
                client.get(url, params=args, headers={**auth, "Cache-Control": "no-cache"})
                misses.append((time.perf_counter() - start) * 1000)
            out[label] = {
                "miss_ms": round((t1 - t0) * 1000, 1),
                "hit_ms": round((t2 - t1) * 1000, 1),
            }
            if misses:
                out[label]["miss_median_ms"] = round(statistics.median(misses), 1)
            if endpoint == "realtime/visitors":
                out[label]["value"] = r1.json()
    return out


def run(tmp: Path, pageviews: int = 10_000_000) -> dict[str, Any]:
    fixture, info = stats_fixture.ensure(pageviews)
    data = tmp / "queries-data"
    shutil.copytree(fixture, data)
    tz = stats_fixture.TZ[SITE]
    now = datetime.now(UTC)
    from analyticsd.core.buckets import zone

    today = day_number(now.astimezone(zone(tz)).strftime("%Y-%m-%d"))
    horizon = int(now.timestamp() * 1000) - stats_fixture.RETENTION_DAYS * 86_400_000
    # The daemon first: it adds the live visitors the realtime question needs.
    http = http_timings(tmp, data, today)
    engine = engine_timings(data, tz, today, horizon)
    return {"queries_fixture": info, "queries_engine": engine, "queries_http": http}


def report_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    info = r["queries_fixture"]
    rows = [
        (
            "stats fixture (one site, a year)",
            f"{info['pageviews_big_site']:,} page views ({info['pageviews_all_sites']:,} with 3 "
            f"smaller sites), {int(info['bytes']) / 2**20:,.0f} MiB SQLite, "
            f"built in {info['seconds']:.0f} s",
        )
    ]
    targets = {label: target for label, _, _, target in QUESTIONS}
    targets["realtime visitors"] = 20
    ref = r["queries_engine"]["reference: 30-day top pages from per-event rows"]["median_ms"]
    for label, e in r["queries_engine"].items():
        h = r["queries_http"].get(label)
        target = targets.get(label)
        text = f"engine {e['median_ms']:.1f} ms (first {e['first_ms']:.1f})"
        if h:
            text += (
                f"; http {h['miss_median_ms']:.1f} ms uncached (first call "
                f"{h['miss_ms']:.1f}), cached {h['hit_ms']:.1f}"
            )
        if target:
            text += f"  [target <= {target:.0f} ms]"
        if label == "30-day top pages":
            text += f"  = 1/{ref / max(e['median_ms'], 0.01):.0f} of the per-event reference"
        rows.append((f"  {label}", text))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pageviews", type=int, default=10_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="analyticsd-queries-"))
    try:
        r = run(tmp, args.pageviews)
        print(json.dumps(r, indent=2), file=sys.stderr)
        rows = report_rows(r)
        width = max(len(k) for k, _ in rows)
        print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
