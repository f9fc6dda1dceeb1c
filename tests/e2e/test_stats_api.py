"""Stats API v1 against generated traffic with known ground truth.

Two days of visits (yesterday and the day before, UTC) go through the real
daemon; every expected number below is counted from the generated plan in
this file, not from the daemon's code. One daemon serves the whole module.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.e2e.stats_traffic import (
    AUTH,
    CLIENT,
    EXTRA,
    LANDINGS,
    SITE_EXTRA,
    UAS,
    Ev,
    Visit,
    iso,
    plan,
    send,
)
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config


def half_up(x: float) -> int:
    """Plausible's rounding of a change: halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


@dataclass
class World:
    d: Daemon
    visits: list[Visit]
    days: list[str]  # labels of day 0 and day 1

    def get(self, endpoint: str, **params: Any) -> Any:
        r = web.get(
            f"{self.d.url}/api/v1/stats/{endpoint}",
            params={"site_id": TEST_SITE, **params},
            headers=AUTH,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def day(self, i: int) -> dict[str, str]:
        return {"period": "day", "date": self.days[i]}

    def both(self) -> dict[str, str]:
        return {"period": "custom", "date": f"{self.days[0]},{self.days[1]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("stats")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=2)
    port = free_port()
    geo = build_city_db(tmp / "city.mmdb")
    cfg = write_config(tmp, port, extra=EXTRA, site_extra=SITE_EXTRA, geoip=str(geo))
    d = Daemon(cfg, port)
    d.start()
    try:
        visits = plan(int(day0.timestamp() * 1000))
        send(d, visits)
        d.wait_caught_up()
        labels = [(day0 + timedelta(days=i)).strftime("%Y-%m-%d") for i in (0, 1)]
        w = World(d, visits, labels)
        _wait_flushed(w, len(visits))
        yield w
    finally:
        d.kill()


def _wait_flushed(w: World, n_visits: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = w.get("aggregate", metrics="visits", **w.both())["results"]["visits"]["value"]
        if got == n_visits:
            return
        time.sleep(0.2)
    raise AssertionError("visits never all counted")


# -- ground truth ---------------------------------------------------------------


def on_day(w: World, i: int) -> list[Visit]:
    return [v for v in w.visits if v.day == i]


def site_truth(visits: list[Visit]) -> dict[str, Any]:
    n = len(visits)
    pvs = sum(len(v.pageviews) for v in visits)
    revenue = sum(float(e.revenue) for v in visits for e in v.events if e.revenue)
    return {
        "visitors": len({v.who for v in visits}),
        "visits": n,
        "pageviews": pvs,
        "views_per_visit": round(pvs / n, 2),
        "bounce_rate": round(100 * sum(v.bounce for v in visits) / n),
        "visit_duration": round(sum(v.duration_ms for v in visits) / n / 1000),
        "events": sum(len(v.events) for v in visits),
        "revenue": {"EUR": round(revenue, 2)},
    }


def visit_dim_truth(visits: list[Visit], value_of: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"visitors": set(), "visits": 0, "pageviews": 0}
    )
    for v in visits:
        val = value_of(v)
        if not val:
            continue
        row = out[val]
        row["visitors"].add(v.who)
        row["visits"] += 1
        row["pageviews"] += len(v.pageviews)
    return {k: {**r, "visitors": len(r["visitors"])} for k, r in out.items()}


def rows_by(result: dict[str, Any], key: str, metrics: list[str]) -> dict[str, dict[str, Any]]:
    return {r[key]: {m: r[m] for m in metrics} for r in result["results"]}


# -- tests ------------------------------------------------------------------------


def test_aggregate_every_metric_per_day_and_range(world: World) -> None:
    metrics = "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration,events,revenue"
    for i in (0, 1):
        res = world.get("aggregate", metrics=metrics, **world.day(i))
        got = {m: v["value"] for m, v in res["results"].items()}
        assert got == site_truth(on_day(world, i))
        assert res["meta"]["engine"] == "rollup"
    both = world.get("aggregate", metrics=metrics, **world.both())["results"]
    assert {m: v["value"] for m, v in both.items()} == site_truth(world.visits)
    # Multi-day visitors are the sum of each day's (ids rotate daily).
    assert both["visitors"]["value"] == 48


def test_compare_previous_period(world: World) -> None:
    res = world.get(
        "aggregate",
        metrics="visitors,pageviews,bounce_rate",
        compare="previous_period",
        **world.day(1),
    )
    cur, prev = site_truth(on_day(world, 1)), site_truth(on_day(world, 0))
    assert res["comparison_period"] == [world.days[0], world.days[0]]
    for m in ("visitors", "pageviews"):
        r = res["results"][m]
        assert (r["value"], r["comparison_value"]) == (cur[m], prev[m])
        # Plausible's change: a whole percent.
        assert r["change"] == half_up((cur[m] - prev[m]) / prev[m] * 100)
    br = res["results"]["bounce_rate"]
    assert br["change"] == cur["bounce_rate"] - prev["bounce_rate"]  # points
    # The same through the per-event engine (a filter only it can answer).
    raw = world.get(
        "aggregate",
        metrics="visitors,pageviews",
        compare="previous_period",
        filters="visit:device!=tablet",
        **world.day(1),
    )
    assert raw["meta"]["engine"] == "events"
    assert raw["results"]["pageviews"]["comparison_value"] == prev["pageviews"]
    ts = world.get(
        "timeseries",
        metrics="pageviews",
        interval="date",
        compare="previous_period",
        **world.day(1),
    )
    assert ts["results"][0]["pageviews"] == cur["pageviews"]
    assert ts["results"][0]["comparison"] == {"date": world.days[0], "pageviews": prev["pageviews"]}


# Visits without a referrer are a row of their own, as Plausible's; those
# without a UTM value are no row (Plausible's v1 leaves them out, v2 has them).
VISIT_PROPS: dict[str, Any] = {
    "visit:source": lambda v: LANDINGS[v.landing][1][0],
    "visit:referrer": lambda v: LANDINGS[v.landing][1][1] or "Direct / None",
    "visit:channel": lambda v: LANDINGS[v.landing][1][2],
    "visit:utm_source": lambda v: LANDINGS[v.landing][1][3],
    "visit:utm_medium": lambda v: LANDINGS[v.landing][1][4],
    "visit:utm_campaign": lambda v: LANDINGS[v.landing][1][5],
    "visit:utm_content": lambda v: "header" if v.landing == 3 else "",
    "visit:utm_term": lambda v: "analytics" if v.landing == 3 else "",
    "visit:screen": lambda v: v.screen,
    "visit:language": lambda v: v.language,
    "visit:hostname": lambda v: v.host,
    "visit:device": lambda v: v.device.capitalize(),  # Desktop, Mobile
    "visit:browser": lambda v: CLIENT[v.device]["browser"],
    "visit:browser_version": lambda v: CLIENT[v.device]["browser_version"],
    "visit:os": lambda v: CLIENT[v.device]["os"],
    "visit:os_version": lambda v: CLIENT[v.device]["os_version"],
    "visit:country": lambda v: v.geo[0],
    "visit:region": lambda v: v.geo[1],
    "visit:city": lambda v: v.geo[2],
    "visit:entry_page": lambda v: v.pageviews[0].path,
    "visit:exit_page": lambda v: v.pageviews[-1].path,
}


@pytest.mark.parametrize("prop", sorted(VISIT_PROPS))
def test_breakdown_visit_properties(world: World, prop: str) -> None:
    key = prop.split(":")[1]
    entry_exit = prop in ("visit:entry_page", "visit:exit_page")
    metrics = ["visits", "pageviews"] if entry_exit else ["visitors", "visits", "pageviews"]
    for i in (0, 1):
        res = world.get("breakdown", property=prop, metrics=",".join(metrics), **world.day(i))
        truth = visit_dim_truth(on_day(world, i), VISIT_PROPS[prop])
        assert rows_by(res, key, metrics) == {
            k: {m: r[m] for m in metrics} for k, r in truth.items()
        }
        assert res["meta"]["engine"] == "rollup"
        if prop in ("visit:browser_version", "visit:os_version", "visit:region", "visit:city"):
            parent = {"browser_version": "browser", "os_version": "os"}.get(key, "country")
            assert all(r[parent] for r in res["results"])
    # Filtering on one value equals that value's breakdown row (rollup), and
    # the per-event engine (an `|` with a value that never occurs) agrees.
    truth = visit_dim_truth(on_day(world, 1), VISIT_PROPS[prop])
    value, want = max(truth.items(), key=lambda kv: (kv[1]["visits"], kv[0]))
    one = world.get(
        "aggregate", metrics="visits,pageviews", filters=f"{prop}=={value}", **world.day(1)
    )
    raw = world.get(
        "aggregate",
        metrics="visits,pageviews",
        filters=f"{prop}=={value}|nothing-like-it",
        **world.day(1),
    )
    assert (one["meta"]["engine"], raw["meta"]["engine"]) == ("rollup", "events")
    for res in (one, raw):
        assert res["results"]["visits"]["value"] == want["visits"]
        assert res["results"]["pageviews"]["value"] == want["pageviews"]


def test_breakdown_compare(world: World) -> None:
    res = world.get(
        "breakdown",
        property="visit:device",
        metrics="visits",
        compare="previous_period",
        **world.day(1),
    )
    cur = Counter(v.device.capitalize() for v in on_day(world, 1))
    prev = Counter(v.device.capitalize() for v in on_day(world, 0))
    got = {r["device"]: r["visits"] for r in res["results"]}
    assert got == {
        d: {
            "value": cur[d],
            "comparison_value": prev[d],
            "change": half_up((cur[d] - prev[d]) / prev[d] * 100),
        }
        for d in cur
    }


def test_breakdown_event_properties(world: World) -> None:
    vis = on_day(world, 1)
    pages: dict[str, dict[str, Any]] = defaultdict(lambda: {"visitors": set(), "pageviews": 0})
    names: Counter[str] = Counter()
    plans: dict[str, dict[str, Any]] = defaultdict(lambda: {"visitors": set(), "events": 0})
    for v in vis:
        for e in v.events:
            names[e.name] += 1
            if e.name == "pageview":
                pages[e.path]["visitors"].add(v.who)
                pages[e.path]["pageviews"] += 1
            # Events without the property are Plausible's "(none)" row.
            plan = e.props.get("plan", "(none)")
            plans[plan]["visitors"].add(v.who)
            plans[plan]["events"] += 1
    res = world.get(
        "breakdown", property="event:page", metrics="visitors,pageviews", **world.day(1)
    )
    assert rows_by(res, "page", ["visitors", "pageviews"]) == {
        p: {"visitors": len(r["visitors"]), "pageviews": r["pageviews"]} for p, r in pages.items()
    }
    order = [r["page"] for r in res["results"]]
    assert order == sorted(order, key=lambda p: (-len(pages[p]["visitors"]), p))  # best first
    res = world.get(
        "breakdown", property="event:props:plan", metrics="visitors,events", **world.day(1)
    )
    assert rows_by(res, "plan", ["visitors", "events"]) == {
        p: {"visitors": len(r["visitors"]), "events": r["events"]} for p, r in plans.items()
    }
    res = world.get("breakdown", property="event:name", metrics="events", **world.day(1))
    assert rows_by(res, "name", ["events"]) == {n: {"events": c} for n, c in names.items()}
    # Pagination: limit/page walk the same order.
    p1 = world.get("breakdown", property="event:page", limit=2, page=1, **world.day(1))
    p2 = world.get("breakdown", property="event:page", limit=2, page=2, **world.day(1))
    assert [r["page"] for r in p1["results"] + p2["results"]] == order[:4]
    assert p1["total_rows"] == len(pages)


def test_goals_conversion_rate_and_revenue(world: World) -> None:
    vis = on_day(world, 1)
    visitors = len({v.who for v in vis})
    by_goal: dict[str, set[tuple[int, int]]] = defaultdict(set)
    completions: Counter[str] = Counter()
    for v in vis:
        for e in v.events:
            for g in v.goals(e):
                by_goal[g].add(v.who)
                completions[g] += 1
    res = world.get(
        "breakdown",
        property="event:goal",
        metrics="visitors,events,conversion_rate,revenue",
        **world.day(1),
    )
    got = rows_by(res, "goal", ["visitors", "events", "conversion_rate"])
    assert got == {
        g: {
            "visitors": len(w),
            "events": completions[g],
            "conversion_rate": round(100 * len(w) / visitors, 2),
        }
        for g, w in by_goal.items()
    }
    purchase = next(r for r in res["results"] if r["goal"] == "purchase")
    assert purchase["revenue"] == {"EUR": round(10.5 * completions["purchase"], 2)}
    avg = world.get("aggregate", metrics="revenue,average_revenue", **world.day(1))["results"]
    assert avg["average_revenue"]["value"] == {"EUR": 10.5}
    assert avg["revenue"]["value"] == {"EUR": round(10.5 * completions["purchase"], 2)}
    agg = world.get(
        "aggregate",
        metrics="visitors,conversion_rate",
        filters="event:goal==Signup",
        **world.day(1),
    )
    assert agg["results"]["conversion_rate"]["value"] == round(
        100 * len(by_goal["Signup"]) / visitors, 2
    )
    # conversion_rate without a goal is a clear 400.
    r = web.get(
        f"{world.d.url}/api/v1/stats/aggregate",
        headers=AUTH,
        params={"site_id": TEST_SITE, "metrics": "conversion_rate"},
    )
    assert r.status_code == 400
    assert "conversion_rate" in r.json()["error"]


def test_filter_forms(world: World) -> None:
    vis = on_day(world, 1)

    def truth(keep_visit: Any, keep_event: Any = lambda e: True) -> tuple[int, int]:
        who, pvs = set(), 0
        for v in vis:
            if not keep_visit(v):
                continue
            for e in v.events:
                if e.name == "pageview" and keep_event(e):
                    who.add(v.who)
                    pvs += 1
        return len(who), pvs

    cases = {
        "visit:device!=Mobile": truth(lambda v: v.device != "mobile"),
        "visit:device!=mobile": truth(lambda v: v.device != "mobile"),  # earlier spelling
        "visit:utm_source==(not set)": truth(lambda v: v.landing != 3),
        "visit:referrer==Direct / None": truth(lambda v: v.landing in (0, 3)),
        "visit:source==Google|Twitter": truth(lambda v: v.landing in (1, 2)),
        "visit:source!=Google|Twitter": truth(lambda v: v.landing not in (1, 2)),
        "event:page==/blog/*": truth(lambda v: True, lambda e: e.path.startswith("/blog/")),
        "event:page!=/blog/*": truth(lambda v: True, lambda e: not e.path.startswith("/blog/")),
        "visit:device==Desktop;event:page==/pricing": truth(
            lambda v: v.device == "desktop", lambda e: e.path == "/pricing"
        ),
        "visit:city==Berlin;visit:channel==Organic Search|Email": truth(
            lambda v: v.geo[2] == "Berlin" and v.landing in (1, 3)
        ),
    }
    for filters, (visitors, pageviews) in cases.items():
        res = world.get("aggregate", metrics="visitors,pageviews", filters=filters, **world.day(1))
        got = (res["results"]["visitors"]["value"], res["results"]["pageviews"]["value"])
        assert got == (visitors, pageviews), filters
    # A breakdown under a filter of another property.
    res = world.get(
        "breakdown",
        property="visit:source",
        metrics="visits",
        filters="visit:device==Mobile",
        **world.day(1),
    )
    want = Counter(LANDINGS[v.landing][1][0] for v in vis if v.device == "mobile")
    assert rows_by(res, "source", ["visits"]) == {s: {"visits": n} for s, n in want.items()}


def test_timeseries_intervals(world: World) -> None:
    vis = on_day(world, 1)
    hours: dict[str, dict[str, Any]] = defaultdict(lambda: {"visitors": set(), "pageviews": 0})
    for v in vis:
        for e in v.pageviews:
            label = datetime.fromtimestamp(e.ts / 1000, UTC).strftime("%Y-%m-%d %H:00:00")
            hours[label]["visitors"].add(v.who)
            hours[label]["pageviews"] += 1
    res = world.get("timeseries", metrics="visitors,pageviews", interval="hour", **world.day(1))
    assert len(res["results"]) == 24
    got = {
        p["date"]: {"visitors": p["visitors"], "pageviews": p["pageviews"]}
        for p in res["results"]
        if p["pageviews"]
    }
    assert got == {
        h: {"visitors": len(r["visitors"]), "pageviews": r["pageviews"]} for h, r in hours.items()
    }
    minutes = world.get("timeseries", metrics="pageviews", interval="minute", **world.day(1))
    assert len(minutes["results"]) == 1440
    assert minutes["meta"]["engine"] == "events"
    assert sum(p["pageviews"] for p in minutes["results"]) == site_truth(vis)["pageviews"]
    per_day = world.get("timeseries", metrics="visitors,pageviews", interval="date", **world.both())
    assert [(p["date"], p["visitors"], p["pageviews"]) for p in per_day["results"]] == [
        (world.days[i], 24, site_truth(on_day(world, i))["pageviews"]) for i in (0, 1)
    ]
    total = site_truth(world.visits)["pageviews"]
    for interval in ("week", "month"):
        res = world.get(
            "timeseries", metrics="visitors,pageviews", interval=interval, **world.both()
        )
        assert sum(p["pageviews"] for p in res["results"]) == total
        assert sum(p["visitors"] for p in res["results"]) == 48
        assert len(res["results"]) in (1, 2)  # the two days may straddle a week/month


def test_rollups_growth(world: World) -> None:
    res = world.get("rollups", metrics="visitors,pageviews", interval="week", period="30d")
    rows = res["results"]
    assert all(datetime.strptime(r["start"], "%Y-%m-%d").weekday() == 0 for r in rows)  # Mondays
    assert sum(r["pageviews"] for r in rows) == site_truth(world.visits)["pageviews"]
    for prev, cur in pairwise(rows):
        if prev["pageviews"]:
            assert cur["growth"]["pageviews"] == round(
                (cur["pageviews"] - prev["pageviews"]) / prev["pageviews"] * 100, 1
            )
    assert rows[-1]["complete"] is False  # the current week
    months = world.get("rollups", metrics="pageviews", interval="month", period="6mo")["results"]
    assert len(months) == 6
    assert all(r["start"].endswith("-01") for r in months)
    assert sum(r["pageviews"] for r in months) == site_truth(world.visits)["pageviews"]


def test_custom_metrics(world: World) -> None:
    vis = on_day(world, 1)
    signups = [e for v in vis for e in v.events if e.name == "Signup"]
    revenue = [float(e.revenue) for v in vis for e in v.events if e.revenue]
    visitors = len({v.who for v in vis})
    res = world.get(
        "aggregate",
        metrics="signups,pro_signups,revenue_sum,avg_revenue,users,signup_rate",
        **world.day(1),
    )["results"]
    assert res["signups"]["value"] == len(signups)
    assert res["pro_signups"]["value"] == sum(1 for e in signups if e.props["plan"] == "pro")
    assert res["revenue_sum"]["value"] == round(sum(revenue), 4)
    assert res["avg_revenue"]["value"] == round(sum(revenue) / len(revenue), 4)
    assert res["users"]["value"] == len({v.user for v in vis if v.user})
    assert res["signup_rate"]["value"] == round(len(signups) / visitors, 4)
    series = world.get("timeseries", metrics="signups", interval="date", **world.both())["results"]
    assert [p["signups"] for p in series] == [
        sum(1 for v in on_day(world, i) for e in v.events if e.name == "Signup") for i in (0, 1)
    ]


def test_funnel_configured_and_in_request(world: World) -> None:
    # Hand count: per visitor, "/" then "/pricing" then Signup, in order,
    # within an hour of the "/" view (yesterday: one day, one visitor id each).
    reached = [0, 0, 0]
    for i in (1,):
        by_who: dict[tuple[int, int], list[Ev]] = defaultdict(list)
        for v in on_day(world, i):
            by_who[v.who] += v.events
        for evs in by_who.values():
            evs.sort(key=lambda e: e.ts)
            best = 0
            for s, e in enumerate(evs):
                if e.name != "pageview" or e.path != "/":
                    continue
                depth, j = 1, s
                for step in (("pageview", "/pricing"), ("Signup", None)):
                    nxt = next(
                        (
                            x
                            for x in range(j + 1, len(evs))
                            if evs[x].name == step[0]
                            and (step[1] is None or evs[x].path == step[1])
                            and evs[x].ts - e.ts <= 3_600_000
                        ),
                        None,
                    )
                    if nxt is None:
                        break
                    depth, j = depth + 1, nxt
                best = max(best, depth)
            for k in range(best):
                reached[k] += 1
    res = world.get("funnel", funnel="pricing-signup", **world.day(1))
    assert [s["visitors"] for s in res["steps"]] == reached
    assert res["steps"][1]["conversion_rate"] == round(100 * reached[1] / reached[0], 2)
    assert res["steps"][2]["drop_off"] == reached[1] - reached[2]
    steps = '[{"page": "/"}, {"page": "/pricing"}, {"event": "Signup"}]'
    same = world.get("funnel", steps=steps, window_s=3600, **world.day(1))
    assert [s["visitors"] for s in same["steps"]] == reached


def test_retention_by_user(world: World) -> None:
    res = world.get("retention", cohort="day", periods=2, **world.both())
    # Day 0: user0..user11 (12 users); day 1: the even ones come back; no new ones.
    assert [(c["cohort"], c["size"]) for c in res["cohorts"]] == [(world.days[0], 12)]
    c = res["cohorts"][0]
    assert c["retained"][:2] == [12, 6]
    assert c["retention"][:2] == [100.0, 50.0]
    assert c["retained"][2] == 0  # today: nobody yet (today is observable)
    assert res["overall"][:2] == [100.0, 50.0]


def test_realtime_visitors(world: World) -> None:
    now = datetime.now(UTC)
    with web.Client(timeout=10) as client:
        for k in range(3):
            r = client.post(
                f"{world.d.url}/api/event",
                json={
                    "siteId": TEST_SITE,
                    "eventType": "pageview",
                    "path": "/live",
                    "timestamp": iso(int(now.timestamp() * 1000)),
                },
                headers={"User-Agent": UAS["desktop"], "X-Forwarded-For": f"192.0.2.{k + 10}"},
            )
            assert r.status_code == 202
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if world.get("realtime/visitors") == 3:
            return
        time.sleep(0.2)
    raise AssertionError(f"realtime visitors: {world.get('realtime/visitors')}")


def test_cache_is_invalidated_by_flushes(world: World) -> None:
    url = f"{world.d.url}/api/v1/stats/aggregate"
    params = {"site_id": TEST_SITE, "metrics": "pageviews,visits", "period": "day"}
    a = web.get(url, params=params, headers=AUTH)
    b = web.get(url, params={**params, "metrics": "pageviews,visits"}, headers=AUTH)
    fresh = web.get(url, params=params, headers={**AUTH, "Cache-Control": "no-cache"})
    assert [r.headers["x-cache"] for r in (a, b, fresh)] == ["miss", "hit", "miss"]
    assert a.json() == b.json() == fresh.json()
    first = world.get("aggregate", metrics="pageviews", period="day")
    r = web.post(
        f"{world.d.url}/api/event",
        json={"siteId": TEST_SITE, "eventType": "pageview", "path": "/new"},
        headers={"User-Agent": UAS["mobile"], "X-Forwarded-For": "192.0.2.99"},
    )
    assert r.status_code == 202
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now = world.get("aggregate", metrics="pageviews", period="day")
        if now["results"]["pageviews"]["value"] == first["results"]["pageviews"]["value"] + 1:
            return
        time.sleep(0.2)
    raise AssertionError("the cached answer outlived a flush")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"metrics": "nope"}, "The metric `nope` is not recognized"),
        ({"period": "fortnight"}, "Error parsing `period` parameter"),
        ({"period": "custom", "date": "2026-01-05"}, "Invalid format for `date` parameter"),
        ({"date": "yesterday"}, "Error parsing `date` parameter"),
        ({"filters": "visit:source=Google"}, "filters:"),
        ({"filters": "visit:nothing==x"}, "Invalid filter property 'visit:nothing'"),
        ({"interval": "hour"}, "interval:"),
        ({"colour": "red"}, "colour:"),
    ],
)
def test_bad_parameters_are_named(world: World, params: dict[str, str], param: str) -> None:
    r = web.get(
        f"{world.d.url}/api/v1/stats/aggregate",
        params={"site_id": TEST_SITE, **params},
        headers=AUTH,
    )
    assert r.status_code == 400
    # Plausible's sentence where it has one; ours start with the parameter.
    assert r.json()["error"].startswith(param), r.json()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"window_s": "9999999999"}, "window_s: must be between"),
        ({"window_s": "soon"}, "window_s: must be a whole number"),
        ({"order": "sideways"}, "order: must be one of loose, strict"),
        ({"steps": '[{"page": "/"}]'}, "steps: must have 2 to 20 steps"),
        ({"steps": '[{"page": "/"}, {"page": "x"}]'}, "steps: steps[1].page: must be a path"),
        ({"steps": '[{"page": "/"}, {"colour": "red"}]'}, "steps: steps[1].colour: unknown key"),
    ],
)
def test_a_funnel_in_the_request_is_checked_like_a_configured_one(
    world: World, params: dict[str, str], expected: str
) -> None:
    query = {"site_id": TEST_SITE, "steps": '[{"page": "/"}, {"event": "Signup"}]', **params}
    r = web.get(f"{world.d.url}/api/v1/stats/funnel", params=query, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"].startswith(expected), r.json()


def test_tokens_and_sites(world: World) -> None:
    url = f"{world.d.url}/api/v1/stats/aggregate"
    r = web.get(url, params={"site_id": TEST_SITE})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = web.get(
        url,
        params={"site_id": TEST_SITE},
        headers={"Authorization": "Bearer wrong-token-0123456789"},
    )
    assert r.status_code == 401  # Plausible's answer to a refused key
    r = web.get(url, params={"site_id": "nope.example"}, headers=AUTH)
    assert r.status_code == 401  # and to a site the key cannot read
    r = web.get(
        f"{world.d.url}/api/v1/stats/breakdown",
        params={"site_id": TEST_SITE, "property": "visit:country", "period": "12mo"},
        headers=AUTH,
    )
    assert r.status_code == 200  # a year's rollup needs no per-event rows


def test_old_ranges_needing_event_rows_are_refused(world: World) -> None:
    r = web.get(
        f"{world.d.url}/api/v1/stats/aggregate",
        params={"site_id": TEST_SITE, "period": "12mo", "filters": "visit:source==Google|Twitter"},
        headers=AUTH,
    )
    assert r.status_code == 400
    assert "raw_event_retention_days" in r.json()["error"]


def test_openapi_document_is_served(world: World) -> None:
    doc = web.get(f"{world.d.url}/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/event", "/api/v1/stats/aggregate", "/api/v1/stats/breakdown"} <= set(doc["paths"])


def test_per_event_answers_with_and_without_the_column_store(world: World, tmp_path: Path) -> None:
    """The daemon answers per-event questions from its column store (a copy
    of SQLite's per-event rows); a daemon on a backup of the same database
    with `storage.column_store = false` answers them from SQLite's rows,
    alike, and loads nothing of the column store."""
    questions: list[dict[str, str]] = [
        {"filters": "visit:source==Google|Twitter", "property": "event:page"},
        {"filters": "visit:device!=Mobile;event:page==/pricing", "property": "visit:browser"},
        {"filters": "visit:entry_page==/", "property": "visit:country"},
        {"filters": "visit:source!=Google", "metrics": "visitors,visits,bounce_rate"},
    ]

    def ask(w: World, q: dict[str, str]) -> Any:
        endpoint = "breakdown" if "property" in q else "aggregate"
        metrics = q.get("metrics", "visitors,pageviews")
        return w.get(endpoint, **{**q, "metrics": metrics}, **w.both())["results"]

    ours = [ask(world, q) for q in questions]
    assert all(ours)  # every question has rows or counts
    data = Path(world.d.config).parent / "data"
    assert (data / "events.duckdb").exists()  # the copy the answers came from
    backup = tmp_path / "stats.sqlite3"
    done = world.d.cli("backup", str(backup))
    assert done.returncode == 0, done.stderr
    (tmp_path / "data").mkdir()
    backup.rename(tmp_path / "data" / "stats.sqlite3")
    port = free_port()
    cfg = write_config(
        tmp_path, port, extra=EXTRA, site_extra=SITE_EXTRA, storage_extra="column_store = false"
    )
    other = Daemon(cfg, port)
    other.start()
    try:
        theirs = [ask(World(other, world.visits, world.days), q) for q in questions]
    finally:
        other.kill()
    assert theirs == ours
    assert not (tmp_path / "data" / "events.duckdb").exists()
