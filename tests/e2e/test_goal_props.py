"""Goals with property conditions (`[[sites.goals]] props`) through HTTP:
the hand-counted conversions of a small day of traffic in the Stats API v1
(as the dashboard asks it), v2, and after a reload that changes a goal.

Five visitors today: A buys twice on the pro plan, B once on the free plan,
C sees /pricing from an ad, D sees /pricing without one, E only sees /.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

GOALS = """
[[sites.goals]]
event = "Purchase"
name = "Pro purchase"
props = { plan = "pro" }

[[sites.goals]]
event = "Purchase"

[[sites.goals]]
page = "/pricing"
props = { ref = "ad" }

[[sites.goals]]
event = "Order"
name = "Two gifts"
props = { qty = "2", gift = "true" }
"""
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"


def _item(kind: str, path: str, props: dict[str, Any] | None, ts: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "siteId": TEST_SITE,
        "eventType": kind,
        "url": f"https://test.example{path}",
        "timestamp": ts.isoformat(),
        "eventId": str(uuid.uuid4()),
    }
    if props:
        item["props"] = props
    return item


VISITORS: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    "10.0.0.1": [
        ("pageview", "/", None),
        ("Purchase", "/", {"plan": "pro"}),
        ("Purchase", "/", {"plan": "pro"}),
    ],
    "10.0.0.2": [("pageview", "/", None), ("Purchase", "/", {"plan": "free"})],
    "10.0.0.3": [("pageview", "/pricing", {"ref": "ad"}), ("Order", "/", {"qty": 2, "gift": True})],
    "10.0.0.4": [("pageview", "/pricing", None), ("Order", "/", {"qty": 2})],
    "10.0.0.5": [("pageview", "/", None)],
}
N_EVENTS = sum(len(v) for v in VISITORS.values())


def _send(d: Daemon, visitors: dict[str, list[Any]], start: datetime) -> None:
    for ip, events in visitors.items():
        items = [_item(k, p, props, start + timedelta(seconds=i)) for i, (k, p, props) in
                 enumerate(events)]  # fmt: skip
        r = web.post(
            f"{d.url}/api/batch",
            json={"events": items},
            headers={"User-Agent": UA, "X-Forwarded-For": ip},
        )
        assert r.status_code == 202, r.text
        assert not r.json()["rejected"], r.text


def _v1(d: Daemon, endpoint: str, **params: str) -> Any:
    r = web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params={"site_id": TEST_SITE, "period": "day", **params},
        headers=d.auth(),
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _v2(d: Daemon, **body: Any) -> Any:
    r = web.post(
        f"{d.url}/api/v2/query",
        json={"site_id": TEST_SITE, "date_range": "day", **body},
        headers={**d.auth(), "Cache-Control": "no-cache"},
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _wait_events(d: Daemon, n: int) -> None:
    deadline = time.monotonic() + 20
    while _v2(d, metrics=["events"])[0]["metrics"] != [n]:
        assert time.monotonic() < deadline, "events never all counted"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("goal-props")
    port = free_port()
    d = Daemon(write_config(tmp, port, site_extra=GOALS), port)
    d.start()
    try:
        # Early in today's UTC day, so that the whole visit is in "day".
        now = datetime.now(UTC)
        start = max(
            now.replace(hour=0, minute=0, second=1, microsecond=0), now - timedelta(minutes=5)
        )
        _send(d, VISITORS, start)
        d.wait_caught_up()
        _wait_events(d, N_EVENTS)
        yield d
    finally:
        d.kill()


def test_v1_goal_breakdown_counts_only_events_whose_props_match(daemon: Daemon) -> None:
    rows = _v1(
        daemon, "breakdown", property="event:goal", metrics="visitors,events,conversion_rate"
    )
    got = {r["goal"]: (r["visitors"], r["events"], r["conversion_rate"]) for r in rows}
    assert got == {
        "Pro purchase": (1, 2, 20.0),
        "Purchase": (2, 3, 40.0),
        "Visit /pricing": (1, 1, 20.0),
        "Two gifts": (1, 1, 20.0),
    }


def test_v1_goal_filter(daemon: Daemon) -> None:
    got = _v1(daemon, "aggregate", metrics="visitors,events", filters="event:goal==Pro purchase")
    assert (got["visitors"]["value"], got["events"]["value"]) == (1, 2)


def test_v2_goal_filters_rates_and_breakdowns(daemon: Daemon) -> None:
    rows = _v2(
        daemon,
        metrics=["visitors", "events", "conversion_rate"],
        filters=[["is", "event:goal", ["Pro purchase"]]],
    )
    assert rows == [{"dimensions": [], "metrics": [1, 2, 20.0]}]
    rows = _v2(
        daemon,
        metrics=["visitors", "events"],
        dimensions=["event:goal"],
        order_by=[["events", "desc"], ["event:goal", "asc"]],
    )
    assert rows == [
        {"dimensions": ["Purchase"], "metrics": [2, 3]},
        {"dimensions": ["Pro purchase"], "metrics": [1, 2]},
        {"dimensions": ["Two gifts"], "metrics": [1, 1]},
        {"dimensions": ["Visit /pricing"], "metrics": [1, 1]},
    ]
    # The props of the converting events, under the goal that has conditions.
    rows = _v2(
        daemon,
        metrics=["visitors"],
        dimensions=["event:props:plan"],
        filters=[["is", "event:goal", ["Purchase"]]],
        order_by=[["event:props:plan", "asc"]],
    )
    assert rows == [
        {"dimensions": ["free"], "metrics": [1]},
        {"dimensions": ["pro"], "metrics": [1]},
    ]


def test_a_reload_applies_changed_props_to_new_events(daemon: Daemon, tmp_path: Path) -> None:
    """After SIGHUP the goal requires plan = free: events from then on count
    under the new condition, those counted before keep their goals."""
    text = daemon.config.read_text()
    daemon.config.write_text(text.replace('props = { plan = "pro" }', 'props = { plan = "free" }'))
    try:
        before = daemon.health()["reload"].get("last")
        daemon.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while daemon.health()["reload"].get("last") == before:
            assert time.monotonic() < deadline, "no reload"
            time.sleep(0.05)
        now = datetime.now(UTC) - timedelta(seconds=2)
        _send(daemon, {"10.0.0.6": [("Purchase", "/", {"plan": "free"})]}, now)
        daemon.wait_caught_up()
        _wait_events(daemon, N_EVENTS + 1)
        got = _v1(
            daemon, "aggregate", metrics="visitors,events", filters="event:goal==Pro purchase"
        )
        assert (got["visitors"]["value"], got["events"]["value"]) == (2, 3)
    finally:
        daemon.config.write_text(text)
