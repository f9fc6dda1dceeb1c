"""engaged_visits and engagement_rate through the Stats API, v1 and v2.

A handful of visits whose engagement is fixed by construction (SPEC §6: a
visit is engaged with ≥ 10 s, ≥ 2 page views or a conversion) go through
the real daemon; every expected number is worked out by hand in the table
below, not from the daemon's code.

Yesterday (UTC), each visit its own visitor (own IP):

    visit  hour device  source  pages (entry first)   other           engaged  bounce
    V1     10   desktop Direct  /, /pricing (+5 s)                    yes (2 pv) no
    V2     10   desktop Google  /                     Scroll at +15 s yes (15 s) yes
    V3     14   desktop Google  /pricing                              no       yes
    V4     14   mobile  Direct  /docs                 Scroll at +3 s  no       yes
    V5     14   mobile  Twitter /pricing, /docs (+20 s)               yes      no
    V6     14   desktop Direct  /docs                 Signup (goal)   yes (conv) no

The day before: W1 Direct `/` alone (not engaged), W2 Google `/`, `/docs`
(engaged).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "engaged-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
GOOGLE = "https://www.google.com/search?q=x"
TWITTER = "https://t.co/abc"


@dataclass
class V:
    day: int  # 0: the day before yesterday, 1: yesterday
    hour: int
    ip: str
    ua: str
    referrer: str
    events: list[tuple[int, str, str]]  # (seconds after the start, event type, path)


VISITS = [
    V(1, 10, "203.0.113.1", DESKTOP, "", [(0, "pageview", "/"), (5, "pageview", "/pricing")]),
    V(1, 10, "203.0.113.2", DESKTOP, GOOGLE, [(0, "pageview", "/"), (15, "Scroll", "/")]),
    V(1, 14, "203.0.113.3", DESKTOP, GOOGLE, [(0, "pageview", "/pricing")]),
    V(1, 14, "203.0.113.4", MOBILE, "", [(0, "pageview", "/docs"), (3, "Scroll", "/docs")]),
    V(
        1,
        14,
        "203.0.113.5",
        MOBILE,
        TWITTER,
        [(0, "pageview", "/pricing"), (20, "pageview", "/docs")],
    ),
    V(1, 14, "203.0.113.6", DESKTOP, "", [(0, "pageview", "/docs"), (2, "Signup", "/docs")]),
    V(0, 9, "198.51.100.1", DESKTOP, "", [(0, "pageview", "/")]),
    V(0, 9, "198.51.100.2", DESKTOP, GOOGLE, [(0, "pageview", "/"), (4, "pageview", "/docs")]),
]
EXTRA = f"""
[api]
tokens = ["{TOKEN}"]
"""
SITE_EXTRA = """
[[sites.goals]]
event = "Signup"
"""
METRICS = "visits,engaged_visits,engagement_rate"


@dataclass
class World:
    d: Daemon
    days: list[str]

    def v1(self, endpoint: str, status: int = 200, **params: Any) -> Any:
        r = web.get(
            f"{self.d.url}/api/v1/stats/{endpoint}",
            params={"site_id": TEST_SITE, **params},
            headers=AUTH,
            timeout=30,
        )
        assert r.status_code == status, r.text
        return r.json()

    def v2(self, body: dict[str, Any], status: int = 200) -> Any:
        r = web.post(
            f"{self.d.url}/api/v2/query",
            json={"site_id": TEST_SITE, **body},
            headers=AUTH,
            timeout=30,
        )
        assert r.status_code == status, r.text
        return r.json()

    def yesterday(self) -> dict[str, str]:
        return {"period": "day", "date": self.days[1]}


def _send(d: Daemon, day0: datetime) -> None:
    with web.Client(timeout=10) as client:
        for v in VISITS:
            start = day0 + timedelta(days=v.day, hours=v.hour)
            items = []
            for i, (after_s, kind, path) in enumerate(v.events):
                item: dict[str, Any] = {
                    "siteId": TEST_SITE,
                    "eventType": kind,
                    "url": f"https://test.example{path}",
                    "timestamp": (start + timedelta(seconds=after_s)).isoformat(),
                    "eventId": str(uuid.uuid4()),
                }
                if i == 0 and v.referrer:
                    item["referrer"] = v.referrer
                items.append(item)
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={"User-Agent": v.ua, "X-Forwarded-For": v.ip},
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("engaged")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=2)
    port = free_port()
    d = Daemon(write_config(tmp, port, extra=EXTRA, site_extra=SITE_EXTRA), port)
    d.start()
    try:
        _send(d, day0)
        d.wait_caught_up()
        w = World(d, [(day0 + timedelta(days=i)).strftime("%Y-%m-%d") for i in (0, 1)])
        both = {"period": "custom", "date": f"{w.days[0]},{w.days[1]}"}
        deadline = time.monotonic() + 20
        while w.v1("aggregate", metrics="visits", **both)["results"]["visits"]["value"] != 8:
            assert time.monotonic() < deadline, "the visits were never all counted"
            time.sleep(0.1)
        yield w
    finally:
        d.kill()


def _rows(result: dict[str, Any], key: str) -> dict[str, tuple[int, int, int]]:
    return {
        r[key]: (r["visits"], r["engaged_visits"], r["engagement_rate"]) for r in result["results"]
    }


def test_v1_aggregate_of_a_day(world: World) -> None:
    res = world.v1("aggregate", metrics=METRICS, **world.yesterday())["results"]
    assert {m: res[m]["value"] for m in res} == {
        "visits": 6,
        "engaged_visits": 4,  # V1, V2, V5, V6
        "engagement_rate": 67,  # 4 / 6, a whole % as bounce_rate
    }


def test_v1_aggregate_compared_with_the_day_before(world: World) -> None:
    res = world.v1("aggregate", metrics=METRICS, compare="previous_period", **world.yesterday())
    r = res["results"]
    assert r["engaged_visits"] == {"value": 4, "comparison_value": 1, "change": 300.0}
    # A percentage compares by the difference in points, as bounce_rate.
    assert r["engagement_rate"] == {"value": 67, "comparison_value": 50, "change": 17}
    assert res["comparison_period"] == [world.days[0], world.days[0]]


def test_v1_timeseries_by_hour_and_by_day(world: World) -> None:
    hours = world.v1("timeseries", metrics=METRICS, interval="hour", **world.yesterday())
    points = {p["date"][11:13]: (p["visits"], p["engaged_visits"], p["engagement_rate"])
              for p in hours["results"] if p["visits"]}  # fmt: skip
    assert points == {"10": (2, 2, 100), "14": (4, 2, 50)}
    quiet = [p for p in hours["results"] if not p["visits"]]
    assert len(quiet) == 22
    assert all(p["engaged_visits"] == 0 and p["engagement_rate"] == 0 for p in quiet)
    both = {"period": "custom", "date": f"{world.days[0]},{world.days[1]}"}
    days = world.v1("timeseries", metrics=METRICS, interval="date", **both)["results"]
    assert [(p["date"], p["engaged_visits"], p["engagement_rate"]) for p in days] == [
        (world.days[0], 1, 50),
        (world.days[1], 4, 67),
    ]


@pytest.mark.parametrize(
    ("prop", "key", "want"),
    [
        ("visit:source", "source",
         {"Direct / None": (3, 2, 67), "Google": (2, 1, 50), "Twitter": (1, 1, 100)}),
        ("visit:device", "device", {"desktop": (4, 3, 75), "mobile": (2, 1, 50)}),
        ("visit:entry_page", "entry_page",
         {"/": (2, 2, 100), "/pricing": (2, 1, 50), "/docs": (2, 1, 50)}),
        # Per-event rows: the visits that viewed the page.
        ("event:page", "page", {"/": (2, 2, 100), "/pricing": (3, 2, 67), "/docs": (3, 2, 67)}),
        ("event:goal", "goal", {"Signup": (1, 1, 100)}),
    ],
)  # fmt: skip
def test_v1_breakdowns(world: World, prop: str, key: str, want: dict[str, Any]) -> None:
    res = world.v1("breakdown", property=prop, metrics=METRICS, **world.yesterday())
    rows = _rows(res, key)
    if key == "device":  # the values' case is Plausible's or ours; the counts are the point
        rows = {k.lower(): v for k, v in rows.items()}
    assert rows == want


def test_v1_breakdown_ranked_by_engaged_visits_with_comparison(world: World) -> None:
    res = world.v1(
        "breakdown",
        property="visit:source",
        metrics="engaged_visits,engagement_rate",
        compare="previous_period",
        **world.yesterday(),
    )
    rows = {r["source"]: r for r in res["results"]}
    assert res["results"][0]["source"] == "Direct / None"  # 2 engaged
    assert rows["Google"]["engaged_visits"] == {"value": 1, "comparison_value": 1, "change": 0.0}
    assert rows["Google"]["engagement_rate"] == {
        "value": 50,
        "comparison_value": 100,
        "change": -50,
    }
    assert rows["Direct / None"]["engagement_rate"]["comparison_value"] == 0  # W1


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        ("visit:source==Google", (2, 1, 50)),  # one rollup row
        ("event:page==/pricing", (3, 2, 67)),  # per-event rows: V1, V3, V5
        ("visit:source!=Google", (4, 3, 75)),
    ],
)
def test_v1_filtered_aggregates(world: World, filters: str, want: tuple[int, int, int]) -> None:
    res = world.v1("aggregate", metrics=METRICS, filters=filters, **world.yesterday())["results"]
    assert (res["visits"]["value"], res["engaged_visits"]["value"]) == want[:2]
    assert res["engagement_rate"]["value"] == want[2]


def test_v1_beyond_the_per_event_rows_is_a_clear_400(world: World) -> None:
    # The rollups hold engaged visits by visit dimension, not by page: a
    # page's engaged visits come from per-event rows, which are kept
    # raw_event_retention_days only.
    old = datetime.now(UTC).date() - timedelta(days=200)
    res = world.v1(
        "breakdown",
        status=400,
        property="event:page",
        metrics="engaged_visits",
        period="custom",
        date=f"{old},{old + timedelta(days=1)}",
    )
    assert "raw_event_retention_days" in str(res)
    # The same range by a visit dimension comes from the rollups: no error.
    ok = world.v1(
        "breakdown",
        property="visit:source",
        metrics="engaged_visits",
        period="custom",
        date=f"{old},{old + timedelta(days=1)}",
    )
    assert ok["results"] == []


def test_v2_aggregate_and_dimensions(world: World) -> None:
    day = [world.days[1], world.days[1]]
    metrics = ["visits", "engaged_visits", "engagement_rate"]
    res = world.v2({"metrics": metrics, "date_range": day})
    assert res["results"] == [{"metrics": [6, 4, 67], "dimensions": []}]
    by_source = world.v2({"metrics": metrics, "date_range": day, "dimensions": ["visit:source"]})
    assert {tuple(r["dimensions"]): r["metrics"] for r in by_source["results"]} == {
        ("Direct / None",): [3, 2, 67],
        ("Google",): [2, 1, 50],
        ("Twitter",): [1, 1, 100],
    }
    by_hour = world.v2({"metrics": metrics, "date_range": day, "dimensions": ["time:hour"]})
    assert {r["dimensions"][0][11:13]: r["metrics"] for r in by_hour["results"]} == {
        "10": [2, 2, 100],
        "14": [4, 2, 50],
    }
    by_page = world.v2({"metrics": metrics, "date_range": day, "dimensions": ["event:page"]})
    assert {r["dimensions"][0]: r["metrics"] for r in by_page["results"]} == {
        "/": [2, 2, 100],
        "/pricing": [3, 2, 67],
        "/docs": [3, 2, 67],
    }
    filtered = world.v2(
        {
            "metrics": ["engaged_visits", "engagement_rate"],
            "date_range": day,
            "filters": [["is", "visit:source", ["Google", "Twitter"]]],
        }
    )
    assert filtered["results"] == [{"metrics": [2, 67], "dimensions": []}]  # V2, V3, V5


def test_v2_session_metrics_with_event_dimensions_are_a_400(world: World) -> None:
    day = [world.days[1], world.days[1]]
    res = world.v2(
        {"metrics": ["engagement_rate"], "date_range": day, "dimensions": ["event:name"]},
        status=400,
    )
    assert "Session metric(s) `engagement_rate`" in res["error"]


def test_openapi_describes_both_metrics_in_v1_and_v2(world: World) -> None:
    doc = web.get(f"{world.d.url}/api/openapi.json", timeout=10).json()
    v1 = doc["paths"]["/api/v1/stats/aggregate"]["get"]["parameters"]
    [metrics] = [p for p in v1 if p["name"] == "metrics"]
    body = doc["paths"]["/api/v2/query"]["post"]["requestBody"]["content"]["application/json"]
    v2 = body["schema"]["properties"]["metrics"]["description"]
    for text in (metrics["description"], v2):
        assert "engaged_visits, engagement_rate" in text
        assert "engaged_visits: visits of at least 10 s, 2 page views or a conversion" in text
