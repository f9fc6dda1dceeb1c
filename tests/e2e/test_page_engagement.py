"""scroll_depth and time_on_page through HTTP (v1 and v2), counted by hand.

Three visitors today, each one visit, with Plausible's engagement events:

* A: /blog (scrolls 30, then 80: deepest 80; engaged 20 s + 10 s), then
  /about (scroll 50, engaged 6 s).
* B: /blog (scroll 40; engaged 30 s), then /blog again in the same visit
  (scroll 20, not deeper: time only, 4 s).
* C: /blog (an engagement event without a scroll depth, engaged 8 s).
* D: /contact, no engagement event at all.

/blog: scroll depth = mean(80, 40) = 60 (C reported no depth); time on page
= (30 + 34 + 8) s / 3 engaged visits = 24 s. /about: 50 and 6 s. /contact:
neither (null).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"
# (kind, path, scroll depth, engaged ms) per visitor, a second apart.
VISITORS: dict[str, list[tuple[str, str, int | None, int | None]]] = {
    "10.0.1.1": [
        ("pageview", "/blog", None, None),
        ("engagement", "/blog", 30, 20_000),
        ("engagement", "/blog", 80, 10_000),
        ("pageview", "/about", None, None),
        ("engagement", "/about", 50, 6_000),
    ],
    "10.0.1.2": [
        ("pageview", "/blog", None, None),
        ("engagement", "/blog", 40, 30_000),
        ("pageview", "/blog", None, None),
        ("engagement", "/blog", 20, 4_000),
    ],
    "10.0.1.3": [("pageview", "/blog", None, None), ("engagement", "/blog", None, 8_000)],
    "10.0.1.4": [("pageview", "/contact", None, None)],
}
PAGEVIEWS = sum(k == "pageview" for v in VISITORS.values() for k, *_ in v)


def _item(kind: str, path: str, sd: int | None, e: int | None, ts: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "siteId": TEST_SITE,
        "eventType": kind,
        "url": f"https://test.example{path}",
        "timestamp": ts.isoformat(),
        "eventId": str(uuid.uuid4()),
    }
    if sd is not None:
        item["scrollDepth"] = sd
    if e is not None:
        item["engagementTime"] = e
    return item


def _v1(d: Daemon, endpoint: str, **params: str) -> Any:
    r = web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params={"site_id": TEST_SITE, "period": "day", **params},
        headers=d.auth(),
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _v2(d: Daemon, status: int = 200, **body: Any) -> Any:
    r = web.post(
        f"{d.url}/api/v2/query",
        json={"site_id": TEST_SITE, "date_range": "day", **body},
        headers={**d.auth(), "Cache-Control": "no-cache"},
    )
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("page-engagement")
    port = free_port()
    d = Daemon(write_config(tmp, port), port)
    d.start()
    try:
        now = datetime.now(UTC)
        start = max(
            now.replace(hour=0, minute=0, second=1, microsecond=0), now - timedelta(minutes=5)
        )
        for ip, events in VISITORS.items():
            items = [_item(*ev, start + timedelta(seconds=i)) for i, ev in enumerate(events)]
            r = web.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={"User-Agent": UA, "X-Forwarded-For": ip},
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text
        d.wait_caught_up()
        deadline = time.monotonic() + 20
        body = {"metrics": ["time_on_page"], "filters": [["is", "event:page", ["/about"]]]}
        while _v2(d, **body)["results"][0]["metrics"] != [6]:
            assert time.monotonic() < deadline, "engagement never counted"
            time.sleep(0.1)
        yield d
    finally:
        d.kill()


def test_v1_breakdown_by_page(daemon: Daemon) -> None:
    rows = _v1(
        daemon,
        "breakdown",
        property="event:page",
        metrics="visitors,pageviews,scroll_depth,time_on_page",
    )
    assert rows == [
        {"page": "/blog", "visitors": 3, "pageviews": 4, "scroll_depth": 60, "time_on_page": 24},
        {"page": "/about", "visitors": 1, "pageviews": 1, "scroll_depth": 50, "time_on_page": 6},
        {
            "page": "/contact",
            "visitors": 1,
            "pageviews": 1,
            "scroll_depth": None,
            "time_on_page": None,
        },
    ]


def test_v1_aggregate_and_timeseries_of_one_page(daemon: Daemon) -> None:
    got = _v1(daemon, "aggregate", metrics="scroll_depth,time_on_page", filters="event:page==/blog")
    assert got == {"scroll_depth": {"value": 60}, "time_on_page": {"value": 24}}
    got = _v1(
        daemon,
        "aggregate",
        metrics="scroll_depth",
        filters="event:page==/blog",
        compare="previous_period",
    )
    # Yesterday nobody scrolled: no comparison value, no change.
    assert got == {"scroll_depth": {"value": 60, "comparison_value": None, "change": None}}
    series = _v1(
        daemon, "timeseries", metrics="scroll_depth", filters="event:page==/about", interval="date"
    )
    assert [p["scroll_depth"] for p in series] == [50]


def test_v2_page_dimension_filter_and_time(daemon: Daemon) -> None:
    got = _v2(
        daemon,
        metrics=["visitors", "scroll_depth", "time_on_page"],
        dimensions=["event:page"],
        order_by=[["scroll_depth", "desc"]],
    )
    assert got["results"] == [
        {"dimensions": ["/blog"], "metrics": [3, 60, 24]},
        {"dimensions": ["/about"], "metrics": [1, 50, 6]},
        {"dimensions": ["/contact"], "metrics": [1, None, None]},
    ]
    got = _v2(daemon, metrics=["scroll_depth"], filters=[["is", "event:page", ["/blog"]]])
    assert got["results"] == [{"dimensions": [], "metrics": [60]}]
    # A page nobody engaged with: neither (null, as Plausible answers now).
    got = _v2(
        daemon,
        metrics=["scroll_depth", "time_on_page"],
        filters=[["is", "event:page", ["/nowhere"]]],
    )
    assert got["results"] == [{"dimensions": [], "metrics": [None, None]}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"metrics": ["time_on_page"]},
            "Metric `time_on_page` can only be queried with event:page filters or dimensions.",
        ),
        (
            {
                "metrics": ["scroll_depth"],
                "dimensions": ["event:page"],
                "filters": [["is", "visit:country", ["DE"]]],
            },
            "scroll_depth and time_on_page are kept per page",
        ),
        (
            {"metrics": ["scroll_depth"], "filters": [["contains", "event:page", ["/b"]]]},
            "scroll_depth and time_on_page are kept per page",
        ),
    ],
)
def test_v2_questions_the_page_rows_cannot_answer_are_400(
    daemon: Daemon, body: dict[str, Any], message: str
) -> None:
    assert message in _v2(daemon, status=400, **body)["error"]


def test_v1_without_a_page_is_400(daemon: Daemon) -> None:
    r = web.get(
        f"{daemon.url}/api/v1/stats/aggregate",
        params={"site_id": TEST_SITE, "period": "day", "metrics": "scroll_depth"},
        headers=daemon.auth(),
    )
    assert r.status_code == 400, r.text
    assert "need an event:page filter or breakdown" in r.text
