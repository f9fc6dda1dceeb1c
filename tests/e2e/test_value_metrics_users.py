"""Percentile, min and max custom metrics, and the event:user / visit:user
properties, through the Stats API v1 and v2 of the real daemon.

Every expected number is worked out by hand from the table below, not from
the daemon's code. Percentiles interpolate linearly between the closest
ranks: of n sorted values, rank p/100 * (n - 1).

Yesterday (UTC), each visit its own visitor (own address):

    visit hour source userId            events (seconds after the start)
    V1    10   Direct alice (all)        pageview /, Load ms=100 (+5), Load ms=300 (+10),
                                         Purchase 10 EUR (+20)
    V2    10   Google none               pageview /pricing, Load ms=200, Load ms="fast"
    V3    14   Google bob from its Load  pageview / (no user), Load ms=400, Purchase 20 EUR
    V4    14   Direct alice (all)        pageview /pricing, Load ms=1000, Load (no ms),
                                         Purchase 30 EUR

The day before: W1 (hour 9, userId carol) pageview /, Load ms=50.

The Load values counted yesterday are 100, 200, 300, 400, 1000 ("fast" is
text and the Load without ms lacks it: neither counts). A visit's user is
the first user id among its events: V3's is bob, its page view included.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "value-metrics-token-0123456789ab"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
GOOGLE = "https://www.google.com/search?q=x"
METRICS = """
[[metrics]]
name = "load_p50"
type = "percentile"
p = 50
field = "props.ms"

[[metrics]]
name = "load_p90"
type = "percentile"
p = 90.0
field = "props.ms"

[[metrics]]
name = "load_min"
type = "min"
field = "props.ms"

[[metrics]]
name = "load_max"
type = "max"
field = "props.ms"

[[metrics]]
name = "basket_p25"
type = "percentile"
p = 25
field = "revenue"

[[metrics]]
name = "basket_min"
type = "min"
field = "revenue"

[[metrics]]
name = "basket_max"
type = "max"
field = "revenue"
"""
EXTRA = f"""
[api]
tokens = ["{TOKEN}"]
{METRICS}
"""
LOADS = "load_p50,load_p90,load_min,load_max"

# (day, hour, ip, referrer, [(seconds, type, path, props, revenue, userId)])
Ev = tuple[int, str, str, dict[str, Any], str | None, str | None]
VISITS: list[tuple[int, int, str, str, list[Ev]]] = [
    (1, 10, "203.0.113.1", "", [
        (0, "pageview", "/", {}, None, "alice"),
        (5, "Load", "/", {"ms": 100}, None, "alice"),
        (10, "Load", "/", {"ms": 300}, None, "alice"),
        (20, "Purchase", "/", {}, "10.00", "alice"),
    ]),
    (1, 10, "203.0.113.2", GOOGLE, [
        (0, "pageview", "/pricing", {}, None, None),
        (5, "Load", "/pricing", {"ms": 200}, None, None),
        (10, "Load", "/pricing", {"ms": "fast"}, None, None),
    ]),
    (1, 14, "203.0.113.3", GOOGLE, [
        (0, "pageview", "/", {}, None, None),
        (5, "Load", "/", {"ms": 400}, None, "bob"),
        (20, "Purchase", "/", {}, "20.00", "bob"),
    ]),
    (1, 14, "203.0.113.4", "", [
        (0, "pageview", "/pricing", {}, None, "alice"),
        (5, "Load", "/pricing", {"ms": 1000}, None, "alice"),
        (10, "Load", "/pricing", {"other": "x"}, None, "alice"),
        (20, "Purchase", "/pricing", {}, "30.00", "alice"),
    ]),
    (0, 9, "198.51.100.9", "", [
        (0, "pageview", "/", {}, None, "carol"),
        (5, "Load", "/", {"ms": 50}, None, "carol"),
    ]),
]  # fmt: skip


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

    def both_days(self) -> dict[str, str]:
        return {"period": "custom", "date": f"{self.days[0]},{self.days[1]}"}


def _send(d: Daemon, day0: datetime) -> None:
    with web.Client(timeout=10) as client:
        for day, hour, ip, referrer, events in VISITS:
            start = day0 + timedelta(days=day, hours=hour)
            items = []
            for i, (after_s, kind, path, props, revenue, user) in enumerate(events):
                item: dict[str, Any] = {
                    "siteId": TEST_SITE,
                    "eventType": kind,
                    "url": f"https://test.example{path}",
                    "timestamp": (start + timedelta(seconds=after_s)).isoformat(),
                    "eventId": str(uuid.uuid4()),
                }
                if i == 0 and referrer:
                    item["referrer"] = referrer
                if props:
                    item["props"] = props
                if revenue:
                    item["revenue"] = {"amount": revenue, "currency": "EUR"}
                if user:
                    item["userId"] = user
                items.append(item)
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={"User-Agent": UA, "X-Forwarded-For": ip},
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("value_metrics")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=2)
    port = free_port()
    d = Daemon(write_config(tmp, port, extra=EXTRA), port)
    d.start()
    try:
        _send(d, day0)
        d.wait_caught_up()
        w = World(d, [(day0 + timedelta(days=i)).strftime("%Y-%m-%d") for i in (0, 1)])
        deadline = time.monotonic() + 20
        while (
            w.v1("aggregate", metrics="events", **w.both_days())["results"]["events"]["value"] != 16
        ):
            assert time.monotonic() < deadline, "the events were never all counted"
            time.sleep(0.1)
        yield w
    finally:
        d.kill()


def _values(res: dict[str, Any]) -> dict[str, Any]:
    return {m: v["value"] for m, v in res["results"].items()}


# -- percentile, min, max ------------------------------------------------------


def test_v1_aggregate(world: World) -> None:
    res = world.v1(
        "aggregate", metrics=f"{LOADS},basket_p25,basket_min,basket_max", **world.yesterday()
    )
    assert _values(res) == {
        "load_p50": 300,  # 100 200 [300] 400 1000
        "load_p90": 760,  # rank 3.6: 400 + 0.6 * (1000 - 400)
        "load_min": 100,
        "load_max": 1000,
        "basket_p25": 15,  # 10 20 30, rank 0.5: 10 + 0.5 * 10
        "basket_min": 10,
        "basket_max": 30,
    }


def test_v1_aggregate_compared_with_the_day_before(world: World) -> None:
    res = world.v1(
        "aggregate", metrics="load_max,load_min,basket_max", compare="previous_period",
        **world.yesterday(),
    )["results"]  # fmt: skip
    assert res["load_max"]["value"] == 1000
    assert res["load_max"]["comparison_value"] == 50  # W1 alone
    assert res["load_max"]["change"] == 1900
    assert res["load_min"]["comparison_value"] == 50
    # No purchase the day before: nothing counted is null, not 0.
    assert res["basket_max"]["value"] == 30
    assert res["basket_max"]["comparison_value"] is None


def test_v1_timeseries_every_hour(world: World) -> None:
    res = world.v1("timeseries", metrics=LOADS, interval="hour", **world.yesterday())["results"]
    assert len(res) == 24
    points = {p["date"][11:13]: [p[m] for m in LOADS.split(",")] for p in res}
    assert points.pop("10") == [200, 280, 100, 300]  # 100 200 300; rank 1.8: 200 + 0.8 * 100
    assert points.pop("14") == [700, 940, 400, 1000]  # 400 1000; rank 0.9: 400 + 0.9 * 600
    assert all(v == [None] * 4 for v in points.values()), points


def test_v1_timeseries_by_day(world: World) -> None:
    res = world.v1("timeseries", metrics=LOADS, interval="date", **world.both_days())["results"]
    assert [(p["date"], [p[m] for m in LOADS.split(",")]) for p in res] == [
        (world.days[0], [50, 50, 50, 50]),
        (world.days[1], [300, 760, 100, 1000]),
    ]


@pytest.mark.parametrize(
    ("prop", "key", "want"),
    [
        # Direct: V1, V4 (100 300 1000); Google: V2, V3 (200 400).
        ("visit:source", "source",
         {"Direct / None": [300, 860, 100, 1000], "Google": [300, 380, 200, 400]}),
        ("event:user", "user",
         {"alice": [300, 860, 100, 1000], "bob": [400, 400, 400, 400],
          "(none)": [200, 200, 200, 200]}),
        # Load events of /: 100 300 400; of /pricing: 200 1000.
        ("event:props:ms", "ms",
         {"100": [100] * 4, "200": [200] * 4, "300": [300] * 4, "400": [400] * 4,
          "1000": [1000] * 4, "fast": [None] * 4}),
    ],
)  # fmt: skip
def test_v1_breakdowns(world: World, prop: str, key: str, want: dict[str, Any]) -> None:
    res = world.v1("breakdown", property=prop, metrics=f"events,{LOADS}", **world.yesterday())[
        "results"
    ]
    rows = {r[key]: [r[m] for m in LOADS.split(",")] for r in res}
    if prop == "event:props:ms":
        rows.pop("(none)")  # page views and purchases: no ms at all
    assert rows == want


def test_v1_breakdown_compared_with_the_day_before(world: World) -> None:
    res = world.v1(
        "breakdown", property="visit:source", metrics="load_min,load_p50",
        compare="previous_period", **world.yesterday(),
    )["results"]  # fmt: skip
    rows = {r["source"]: (r["load_min"], r["load_p50"]) for r in res}
    # W1 (Direct, 50) is the day before's only Load.
    assert rows["Direct / None"] == (
        {"value": 100, "comparison_value": 50, "change": 100},
        {"value": 300, "comparison_value": 50, "change": 500},
    )
    assert rows["Google"][0]["value"] == 200
    assert rows["Google"][0]["comparison_value"] is None


def test_v1_filtered_by_the_entry_page(world: World) -> None:
    # event:page filters page views; the Load events are picked by their visit.
    res = world.v1(
        "aggregate", metrics=f"{LOADS},basket_max", filters="visit:entry_page==/pricing",
        **world.yesterday(),
    )  # fmt: skip
    assert _values(res) == {  # V2, V4: 200 1000; rank 0.9: 200 + 0.9 * 800
        "load_p50": 600, "load_p90": 920, "load_min": 200, "load_max": 1000, "basket_max": 30,
    }  # fmt: skip


def test_v2_metrics_by_name(world: World) -> None:
    day = [world.days[1], world.days[1]]
    metrics = ["load_p50", "load_p90", "load_min", "load_max", "basket_p25"]
    res = world.v2({"metrics": metrics, "date_range": day})
    assert res["results"] == [{"metrics": [300, 760, 100, 1000, 15], "dimensions": []}]
    by_hour = world.v2({"metrics": metrics, "date_range": day, "dimensions": ["time:hour"]})
    assert {r["dimensions"][0][11:13]: r["metrics"] for r in by_hour["results"]} == {
        "10": [200, 280, 100, 300, 10],
        "14": [700, 940, 400, 1000, 22.5],  # 20 30, rank 0.25
    }
    by_user = world.v2(
        {"metrics": ["load_min", "basket_max"], "date_range": day, "dimensions": ["visit:user"]}
    )
    assert {r["dimensions"][0]: r["metrics"] for r in by_user["results"]} == {
        "alice": [100, 30],
        "bob": [400, 20],
        "(none)": [200, None],
    }


# -- event:user and visit:user -------------------------------------------------


def test_v1_breakdown_by_event_user_and_visit_user(world: World) -> None:
    metrics = "visitors,pageviews,events"
    by_event = world.v1("breakdown", property="event:user", metrics=metrics, **world.yesterday())
    assert {
        r["user"]: (r["visitors"], r["pageviews"], r["events"]) for r in by_event["results"]
    } == {
        "alice": (2, 2, 8),  # V1, V4
        "(none)": (2, 2, 4),  # V2, V3's page view
        "bob": (1, 0, 2),  # V3's Load and Purchase
    }
    by_visit = world.v1(
        "breakdown", property="visit:user", metrics=f"{metrics},visits", **world.yesterday()
    )
    assert {
        r["user"]: (r["visitors"], r["pageviews"], r["events"], r["visits"])
        for r in by_visit["results"]
    } == {
        "alice": (2, 2, 8, 2),
        "bob": (1, 1, 3, 1),  # the page view before bob's first user id counts for bob
        "(none)": (1, 1, 3, 1),  # V2
    }


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        ("event:user==alice", (2, 8, 300)),
        ("event:user==Alice", (0, 0, None)),  # exactly as sent, case included
        ("event:user==bob|alice", (3, 10, 350)),  # 100 300 400 1000: rank 1.5
        ("event:user!=alice", (2, 6, 300)),  # 200 400: events without a user id too
        ("event:user==(none)", (2, 4, 200)),
        ("event:user!=(none)", (3, 10, 350)),
        ("event:user==ali*", (2, 8, 300)),
        ("visit:user==bob", (1, 3, 400)),
        ("visit:user==(none)", (1, 3, 200)),
        ("visit:user!=(none)", (3, 11, 350)),
        ("visit:user==bob;visit:source==Google", (1, 3, 400)),
        ("visit:user==alice;event:user==alice", (2, 8, 300)),
    ],
)
def test_v1_user_filters(world: World, filters: str, want: tuple[int, int, Any]) -> None:
    res = world.v1(
        "aggregate", metrics="visitors,events,load_p50", filters=filters, **world.yesterday()
    )
    got = _values(res)
    assert (got["visitors"], got["events"], got["load_p50"]) == want


def test_v1_timeseries_filtered_by_visit_user(world: World) -> None:
    res = world.v1(
        "timeseries", metrics="pageviews,load_max", interval="hour", filters="visit:user==alice",
        **world.yesterday(),
    )["results"]  # fmt: skip
    points = {p["date"][11:13]: (p["pageviews"], p["load_max"]) for p in res if p["pageviews"]}
    assert points == {"10": (1, 300), "14": (1, 1000)}


def test_v2_user_filters_and_dimensions(world: World) -> None:
    day = [world.days[1], world.days[1]]

    def events(filters: list[Any]) -> int:
        res = world.v2({"metrics": ["events"], "date_range": day, "filters": filters})
        return int(res["results"][0]["metrics"][0])

    assert events([["is", "event:user", ["bob"]]]) == 2
    assert events([["is_not", "visit:user", ["(none)"]]]) == 11
    assert events([["contains", "event:user", ["LIC"]]]) == 0
    assert events([["contains", "event:user", ["LIC"], {"case_sensitive": False}]]) == 8
    assert events([["contains_not", "event:user", ["ali"]]]) == 2  # bob's; a user id needed
    assert events([["matches", "visit:user", ["^b"]]]) == 3
    assert events([["or", [["is", "visit:user", ["bob"]], ["is", "event:user", ["(none)"]]]]]) == 6
    both = world.v2(
        {"metrics": ["pageviews"], "date_range": day, "dimensions": ["event:user", "visit:user"]}
    )
    assert {tuple(r["dimensions"]): r["metrics"][0] for r in both["results"]} == {
        ("alice", "alice"): 2,
        ("(none)", "bob"): 1,
        ("(none)", "(none)"): 1,
        ("bob", "bob"): 0,
    }
    visits = world.v2({"metrics": ["visits"], "date_range": day, "dimensions": ["visit:user"]})
    assert {r["dimensions"][0]: r["metrics"][0] for r in visits["results"]} == {
        "alice": 2,
        "bob": 1,
        "(none)": 1,
    }


# -- bad input -----------------------------------------------------------------


def test_bad_input_is_a_clear_400_that_changes_nothing(world: World) -> None:
    before = _values(world.v1("aggregate", metrics=f"events,{LOADS}", **world.yesterday()))
    bad = world.v1("aggregate", status=400, metrics="load_p99", **world.yesterday())
    assert "load_p99" in bad["error"]
    bad = world.v1("breakdown", status=400, property="event:users", **world.yesterday())
    assert "event:users" in bad["error"]
    bad = world.v1(
        "aggregate", status=400, metrics="events", filters="event:userid==bob", **world.yesterday()
    )
    assert "event:userid" in bad["error"]
    old = datetime.now(UTC).date() - timedelta(days=200)
    bad = world.v1(
        "aggregate", status=400, metrics="load_p50", period="custom",
        date=f"{old},{old + timedelta(days=1)}",
    )  # fmt: skip
    assert "raw_event_retention_days" in bad["error"]
    bad = world.v2(
        {
            "metrics": ["bounce_rate"],
            "date_range": [world.days[1]] * 2,
            "dimensions": ["event:user"],
        },
        status=400,
    )
    # A visit's metrics go with visit:user, as with the other event dimensions.
    assert "Session metric(s) `bounce_rate`" in bad["error"]
    bad = world.v2(
        {"metrics": ["load_p50"], "date_range": [world.days[1]] * 2, "dimensions": ["user"]},
        status=400,
    )
    assert 'Invalid dimension "user"' in bad["error"]
    after = _values(world.v1("aggregate", metrics=f"events,{LOADS}", **world.yesterday()))
    assert after == before == {
        "events": 14, "load_p50": 300, "load_p90": 760, "load_min": 100, "load_max": 1000,
    }  # fmt: skip


def test_openapi_documents_the_types_and_properties(world: World) -> None:
    doc = web.get(f"{world.d.url}/api/openapi.json", timeout=10).json()
    v1 = doc["paths"]["/api/v1/stats/aggregate"]["get"]["parameters"]
    [metrics] = [p for p in v1 if p["name"] == "metrics"]
    [filters] = [p for p in v1 if p["name"] == "filters"]
    body = doc["paths"]["/api/v2/query"]["post"]["requestBody"]["content"]["application/json"]
    dims = body["schema"]["properties"]["dimensions"]["description"]
    assert "percentile" in metrics["description"]
    for text in (filters["description"], dims):
        assert "event:user" in text
        assert "visit:user" in text


# -- configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ('type = "percentile"\nfield = "props.ms"', "metrics[0].p: percentile needs p"),
        ('type = "percentile"\np = 150\nfield = "props.ms"', "metrics[0].p: must be a number"),
        ('type = "percentile"\np = -1\nfield = "revenue"', "metrics[0].p: must be a number"),
        ('type = "percentile"\np = "high"\nfield = "revenue"', "metrics[0].p"),
        ('type = "min"\np = 5\nfield = "revenue"', "metrics[0].p: only percentile takes p"),
        ('type = "max"', 'metrics[0].field: max needs field = "revenue" or "props.NAME"'),
        ('type = "min"\nfield = "ms"', 'metrics[0].field: min needs field = "revenue"'),
        ('type = "count"\nfield = "revenue"', "metrics[0].field: only sum, avg, min, max"),
        ('type = "median"\nfield = "revenue"', "metrics[0].type"),
    ],
)
def test_config_errors(tmp_path: Path, metric: str, message: str) -> None:
    extra = f'[[metrics]]\nname = "m"\n{metric}\n'
    d = Daemon(write_config(tmp_path, free_port(), extra=extra), 0)
    r = d.cli("check-config")
    assert r.returncode != 0
    assert message in r.stdout + r.stderr, r.stdout + r.stderr
