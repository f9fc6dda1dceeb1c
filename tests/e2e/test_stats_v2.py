"""Stats API v2 (POST /api/v2/query) against the real daemon: tokens and
error shapes, and the same numbers as v1 for the same questions.

The traffic is the Stats API v1 test's (two days of generated visits); v1
is the reference here, itself checked against the generated plan in
test_stats_api.py. One daemon serves the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import web
from tests.e2e.stats_traffic import AUTH, EXTRA, SITE_EXTRA, plan, send
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]


@dataclass
class World:
    d: Daemon
    days: list[str]
    n_visits: int

    def v1(self, endpoint: str, **params: Any) -> Any:
        r = web.get(
            f"{self.d.url}/api/v1/stats/{endpoint}",
            params={"site_id": TEST_SITE, **params},
            headers=AUTH,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def v2(self, headers: dict[str, str] | None = None, **body: Any) -> Any:
        full = {"site_id": TEST_SITE, "date_range": self.days, **body}
        return web.post(
            f"{self.d.url}/api/v2/query", json=full, headers=AUTH if headers is None else headers
        )

    def ok(self, **body: Any) -> Any:
        r = self.v2(**body)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("stats-v2")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = today - timedelta(days=2)
    port = free_port()
    geo = str(build_city_db(tmp / "city.mmdb"))
    d = Daemon(write_config(tmp, port, extra=EXTRA, site_extra=SITE_EXTRA, geoip=geo), port)
    d.start()
    try:
        visits = plan(int(day0.timestamp() * 1000))
        send(d, visits)
        d.wait_caught_up()
        days = [(day0 + timedelta(days=i)).strftime("%Y-%m-%d") for i in (0, 1)]
        w = World(d, days, len(visits))
        deadline = time.monotonic() + 20
        while w.ok(metrics=["visits"])["results"][0]["metrics"] != [w.n_visits]:
            assert time.monotonic() < deadline, "visits never all counted"
            time.sleep(0.2)
        yield w
    finally:
        d.kill()


def test_tokens_sites_and_bodies(world: World) -> None:
    url = f"{world.d.url}/api/v2/query"
    body = {"site_id": TEST_SITE, "metrics": ["visitors"], "date_range": "day"}
    r = web.post(url, json=body, headers={})
    assert r.status_code == 401
    assert "Bearer" in r.json()["error"]
    assert "WWW-Authenticate" in r.headers
    r = web.post(url, json=body, headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert r.status_code == 403
    assert r.json() == {"error": "this API token is not accepted"}
    r = web.post(url, json={**body, "site_id": "nope.example"}, headers=AUTH)
    assert r.status_code == 404
    assert "nope.example" in r.json()["error"]
    r = web.post(url, content=b"{not json", headers=AUTH)
    assert r.status_code == 400
    assert r.json() == {"error": "The request body is not valid JSON."}
    r = web.post(url, json={**body, "interval": "date"}, headers=AUTH)
    assert r.status_code == 400
    assert "interval" in r.json()["error"]
    r = web.post(url, content=b"x" * 300_000, headers=AUTH)
    assert r.status_code == 413
    assert web.get(url, headers=AUTH).status_code == 405
    # Bad requests changed nothing: the daemon answers as before.
    assert world.ok(metrics=["visits"])["results"][0]["metrics"] == [world.n_visits]


def test_aggregate_and_series_agree_with_v1(world: World) -> None:
    both = {"period": "custom", "date": ",".join(world.days)}
    v1 = world.v1("aggregate", metrics=",".join(METRICS), **both)["results"]
    v2 = world.ok(metrics=METRICS)
    assert v2["results"] == [{"metrics": [v1[m]["value"] for m in METRICS], "dimensions": []}]
    series = world.v1("timeseries", metrics="visitors,pageviews", interval="date", **both)
    v2 = world.ok(metrics=["visitors", "pageviews"], dimensions=["time:day"])
    assert v2["results"] == [
        {"dimensions": [p["date"]], "metrics": [p["visitors"], p["pageviews"]]}
        for p in series["results"]
    ]


@pytest.mark.parametrize("prop", ["visit:source", "visit:country", "event:page", "visit:device"])
def test_breakdowns_agree_with_v1(world: World, prop: str) -> None:
    both = {"period": "custom", "date": ",".join(world.days)}
    v1 = world.v1("breakdown", property=prop, metrics="visitors,pageviews", **both)["results"]
    key = prop.split(":", 1)[1]
    v2 = world.ok(metrics=["visitors", "pageviews"], dimensions=[prop])["results"]
    assert {r["dimensions"][0]: r["metrics"] for r in v2} == {
        r[key]: [r["visitors"], r["pageviews"]] for r in v1
    }
    assert v2  # the traffic has values of every one of these


def test_goal_conversion_rate_agrees_with_v1(world: World) -> None:
    both = {"period": "custom", "date": ",".join(world.days)}
    v1 = world.v1(
        "aggregate", metrics="visitors,conversion_rate", filters="event:goal==Signup", **both
    )["results"]
    v2 = world.ok(
        metrics=["visitors", "conversion_rate"], filters=[["is", "event:goal", ["Signup"]]]
    )
    assert v2["results"][0]["metrics"] == [
        v1["visitors"]["value"],
        v1["conversion_rate"]["value"],
    ]


def test_nested_filters_split_the_visits(world: World) -> None:
    """Visits from Google or Twitter and those from neither add up to all."""
    sources = ["or", [["is", "visit:source", ["Google"]], ["contains", "visit:source", ["Twit"]]]]
    some = world.ok(metrics=["visits"], filters=[sources])["results"][0]["metrics"][0]
    rest = world.ok(metrics=["visits"], filters=[["not", sources]])["results"][0]["metrics"][0]
    assert 0 < some < world.n_visits
    assert some + rest == world.n_visits


def test_meta_and_the_echoed_query(world: World) -> None:
    answer = world.ok(
        metrics=["visitors"],
        dimensions=["event:page"],
        include={"imports": True, "total_rows": True},
        pagination={"limit": 2},
    )
    assert answer["meta"]["imports_included"] is False
    assert answer["meta"]["imports_skip_reason"] == "no_imported_data"
    assert answer["meta"]["total_rows"] > 2
    assert len(answer["results"]) == 2
    q = answer["query"]
    assert q["date_range"] == [f"{world.days[0]}T00:00:00Z", f"{world.days[1]}T23:59:59Z"]
    assert q["order_by"] == [["visitors", "desc"]]
    # The echoed query is itself a request with the same answer.
    again = web.post(f"{world.d.url}/api/v2/query", json=q, headers=AUTH)
    assert again.json()["results"] == answer["results"]


def test_old_ranges_needing_event_rows_are_refused(world: World) -> None:
    r = world.v2(
        metrics=["visitors"],
        date_range=["2020-01-01", "2020-01-31"],
        filters=[["contains", "event:page", ["/blog"]]],
    )
    assert r.status_code == 400
    assert "raw_event_retention_days" in r.json()["error"]
    # Rollup rows answer any range (nothing counted then).
    old = world.ok(metrics=["visitors"], date_range=["2020-01-01", "2020-01-31"])
    assert old["results"] == [{"metrics": [0], "dimensions": []}]


def test_answers_are_cached_and_no_cache_asks_anew(world: World) -> None:
    body = {"metrics": ["visitors"], "dimensions": ["visit:country"]}
    first = world.v2(**body)
    second = world.v2(**body)
    assert second.headers["X-Cache"] == "hit"
    assert second.json() == first.json()
    fresh = world.v2(headers={**AUTH, "Cache-Control": "no-cache"}, **body)
    assert fresh.headers["X-Cache"] == "miss"
    assert fresh.json() == first.json()
