"""The seed's "Complete Testing Workflow" (tests 1-4) against the real daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests import web
from tests.helpers import TEST_SITE, Daemon


def _post(d: Daemon, body: dict[str, object]) -> httpx.Response:
    return web.post(f"{d.url}/api/event", json=body, timeout=5)


def test_complete_testing_workflow(daemon: Daemon) -> None:
    now = datetime.now(UTC)
    # Today's date, with every timestamp safely in the past (in the first hour
    # of a UTC day, yesterday noon: still a valid recent date).
    today = now.date() if now.hour >= 1 else now.date() - timedelta(days=1)
    hour = 0 if now.hour >= 1 else 12

    def ts(hh: int, mm: int) -> str:
        return f"{today.isoformat()}T{hh:02d}:{mm:02d}:00Z"

    # Test 1 and 2: four page views from one client, no cookies.
    for minute, path in enumerate(["/home", "/products", "/about", "/contact"]):
        r = _post(
            daemon,
            {
                "siteId": TEST_SITE,
                "eventType": "page_view",
                "path": path,
                "timestamp": ts(hour, minute),
            },
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["success"] is True
        assert len(body["eventId"]) == 36
        assert len(body["visitorId"]) == 16

    # Test 4: the same event three times under one eventId.
    event_id = "550e8400-e29b-41d4-a716-446655440099"
    answers = [
        _post(
            daemon,
            {
                "siteId": TEST_SITE,
                "eventType": "page_view",
                "path": "/duplicate-test",
                "timestamp": ts(hour, 30),
                "eventId": event_id,
            },
        )
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["eventId"] for a in answers} == {event_id}

    daemon.wait_caught_up()
    # Test 3: statistics.
    r = daemon.stats(today.isoformat())
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["siteId"] == TEST_SITE
    assert stats["date"] == today.isoformat()
    assert stats["totalViews"] == 5
    assert stats["uniqueUsers"] == 1
    views = {p["path"]: p["views"] for p in stats["topPaths"]}
    assert views == {"/home": 1, "/products": 1, "/about": 1, "/contact": 1, "/duplicate-test": 1}
    # Ties are ordered by path.
    assert [p["path"] for p in stats["topPaths"]] == sorted(views)

    # A day without data.
    empty = (today - timedelta(days=3)).isoformat()
    r = daemon.stats(empty)
    assert r.status_code == 404
    assert empty in r.json()["message"][0]


def test_top_paths_order_and_limit(daemon: Daemon) -> None:
    events = [
        {"siteId": TEST_SITE, "eventType": "pageview", "path": f"/p{i}"}
        for i in range(12)
        for _ in range(i + 1)
    ]
    r = web.post(f"{daemon.url}/api/batch", json={"events": events[:300]}, timeout=5)
    assert r.status_code == 202, r.text
    daemon.wait_caught_up()
    stats = daemon.stats(datetime.now(UTC).date().isoformat()).json()
    assert stats["totalViews"] == 78
    assert [p["path"] for p in stats["topPaths"]] == [f"/p{i}" for i in range(11, 1, -1)]
    assert stats["topPaths"][0]["views"] == 12


def test_distinct_clients_are_distinct_visitors(daemon: Daemon) -> None:
    agents = [
        f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        for v in (120, 121, 122)
    ]
    for ua in agents:
        r = web.post(
            f"{daemon.url}/api/event",
            timeout=5,
            headers={"User-Agent": ua},
            json={"siteId": TEST_SITE, "eventType": "pageView", "path": "/"},
        )
        assert r.status_code == 202
    # The same client twice is one visitor.
    web.post(
        f"{daemon.url}/api/event",
        timeout=5,
        headers={"User-Agent": agents[0]},
        json={"siteId": TEST_SITE, "eventType": "pageview", "url": "https://t.example/"},
    )
    daemon.wait_caught_up()
    stats = daemon.stats(datetime.now(UTC).date().isoformat()).json()
    assert stats["uniqueUsers"] == 3
    assert stats["totalViews"] == 4
