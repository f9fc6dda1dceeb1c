"""Plausible's event format on /api/event stores the same event as our own.

The payloads are the ones Plausible's tracker and its Events API send:
text/plain bodies with short names (n, u, d, r, w, p, $, h, i), props as an
object or, from older trackers, as a JSON string, and the long names of the
Events API with application/json.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, running_daemon

SITE_URL = "https://test.example"
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15"
)
BLOG = f"{SITE_URL}/blog/post?utm_source=newsletter&utm_medium=email"

# (our format, Plausible's, Content-Type of Plausible's)
PAIRS: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    (
        {"eventType": "pageview", "url": BLOG, "referrer": "https://news.ycombinator.com/item?id=1",
         "screenWidth": 1440},
        {"n": "pageview", "u": BLOG, "d": TEST_SITE, "r": "https://news.ycombinator.com/item?id=1",
         "w": 1440, "h": 0},
        "text/plain",
    ),
    (
        {"eventType": "Purchase", "url": f"{SITE_URL}/checkout", "screenWidth": 390,
         "props": {"plan": "pro", "seats": 3, "trial": False},
         "revenue": {"amount": "29.99", "currency": "USD"}},
        {"n": "Purchase", "u": f"{SITE_URL}/checkout", "d": TEST_SITE, "r": None, "w": 390,
         "p": {"plan": "pro", "seats": 3, "trial": False},
         "$": {"amount": "29.99", "currency": "USD"}, "i": True},
        "text/plain",
    ),
    (
        {"eventType": "Signup", "url": f"{SITE_URL}/pricing", "props": {"plan": "team"}},
        {"n": "Signup", "u": f"{SITE_URL}/pricing", "d": TEST_SITE, "r": None,
         "p": json.dumps({"plan": "team"}), "i": False},
        "text/plain",
    ),
    (
        {"eventType": "Download", "url": f"{SITE_URL}/docs", "referrer": "https://duckduckgo.com/",
         "props": {"file": "a.pdf"}, "revenue": {"amount": 5, "currency": "EUR"}},
        {"name": "Download", "url": f"{SITE_URL}/docs", "domain": TEST_SITE,
         "referrer": "https://duckduckgo.com/", "props": {"file": "a.pdf"},
         "revenue": {"amount": 5, "currency": "EUR"}},
        "application/json",
    ),
]  # fmt: skip


def stored(d: Daemon, event_id: str) -> dict[str, Any]:
    """The stored event and its visit's dimensions, without ids and times."""
    db = sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    row = db.execute(
        "SELECT e.name, e.path, e.props, e.goals, e.revenue_micros, e.currency, s.* "
        "FROM events e JOIN sessions s ON s.id = e.session WHERE e.event_id = ?",
        (event_id,),
    ).fetchone()
    assert row is not None, event_id
    skip = {"id", "visitor", "alias", "start_ms", "end_ms", "start_hour", "start_day",
            "entry_ms", "exit_ms", "touched_ms", "first_visits"}  # fmt: skip
    return {k: row[k] for k in row.keys() if k not in skip}  # noqa: SIM118 (a Row)


@pytest.mark.parametrize("i", range(len(PAIRS)))
def test_plausible_payloads_store_the_same_event_as_ours(tmp_path: Any, i: int) -> None:
    ours, theirs, ctype = PAIRS[i]
    with running_daemon(tmp_path, site_extra='[[sites.goals]]\nevent = "Signup"\n') as d:
        ids = []
        for n, (body, content_type) in enumerate(
            [
                (json.dumps({"siteId": TEST_SITE, **ours}), "application/json"),
                (json.dumps(theirs), ctype),
            ]
        ):
            r = web.post(
                f"{d.url}/api/event",
                content=body,
                headers={
                    "Content-Type": content_type,
                    "User-Agent": UA,
                    # Two visitors in one network: the same place, two visits.
                    "X-Forwarded-For": f"203.0.113.{10 + n}",
                    "Accept-Language": "de-DE",
                },
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["eventId"])
        d.wait_caught_up()
        ours_row, theirs_row = stored(d, ids[0]), stored(d, ids[1])
        assert ours_row == theirs_row
        assert ours_row["name"] == ours["eventType"]


def test_plausible_payload_errors_name_the_problem(tmp_path: Any) -> None:
    with running_daemon(tmp_path) as d:
        for body, says in [
            ({"n": "pageview", "u": f"{SITE_URL}/", "d": "a.example,b.example"}, "one site"),
            ({"n": "pageview", "u": f"{SITE_URL}/", "d": TEST_SITE, "p": "{not json"}, "p must be"),
            ({"u": f"{SITE_URL}/", "d": TEST_SITE}, "eventType should not be empty"),
            ({"n": "pageview", "u": f"{SITE_URL}/", "d": "nope.example"}, "not a configured site"),
        ]:
            r = web.post(f"{d.url}/api/event", content=json.dumps(body),
                           headers={"Content-Type": "text/plain"})  # fmt: skip
            assert r.status_code in (400, 403), r.text
            assert any(says in m for m in r.json()["message"]), r.text


def _post(d: Daemon, body: dict[str, Any]) -> Any:
    return web.post(
        f"{d.url}/api/event",
        content=json.dumps(body),
        headers={"Content-Type": "text/plain", "User-Agent": UA, "X-Forwarded-For": "203.0.113.7"},
    )


def test_plausible_semantics_end_to_end(tmp_path: Any) -> None:
    """Empty `$`, `h: 1`, a `www.` domain and engagement, as Plausible takes them."""
    with running_daemon(tmp_path) as d:
        bodies = [
            {"n": "pageview", "u": f"{SITE_URL}/#/cart", "d": f"www.{TEST_SITE}", "h": 1},
            {"n": "Signup", "u": f"{SITE_URL}/#/cart", "d": TEST_SITE, "h": 1, "$": {}},
            {"n": "engagement", "u": f"{SITE_URL}/#/cart", "d": TEST_SITE, "h": 1, "sd": 80,
             "e": 4200, "p": {}},
        ]  # fmt: skip
        ids = []
        for body in bodies:
            r = _post(d, body)
            assert r.status_code == 202, r.text
            ids.append(r.json()["eventId"])
        d.wait_caught_up()
        assert stored(d, ids[0])["path"] == "/#/cart"
        signup = stored(d, ids[1])
        assert (signup["name"], signup["revenue_micros"]) == ("Signup", None)
        db = sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
        names = [n for (n,) in db.execute("SELECT name FROM events WHERE site = ?", (TEST_SITE,))]
        assert sorted(names) == ["Signup", "pageview"]  # engagement is no event
        (events,) = db.execute(
            "SELECT events FROM agg WHERE site = ? AND gran = 1 AND dim = 0", (TEST_SITE,)
        ).fetchone()
        assert events == 2
        rows = db.execute(
            "SELECT val, engaged_ms, scroll_sum, scroll_n FROM engagement "
            "WHERE site = ? AND gran = 1 ORDER BY val",
            (TEST_SITE,),
        ).fetchall()
        assert rows == [("", 4200, 0, 0), ("/#/cart", 4200, 80, 1)]


def test_plausible_script_names_are_served(tmp_path: Any) -> None:
    with running_daemon(tmp_path) as d:
        for name, flags in [
            ("script.js", "F={}"),
            ("plausible.js", "F={}"),
            ("script.hash.js", "F={h:1}"),
            ("script.tagged-events.js", "F={t:1}"),
            ("script.outbound-links.file-downloads.js", "F={f:1,o:1}"),
            ("plausible.outbound-links.js", "F={o:1}"),
        ]:
            r = web.get(f"{d.url}/js/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-type"].startswith("application/javascript")
            # The default own path is /js/script.js: it keeps every feature on.
            assert (flags in r.text) != (name == "script.js"), (name, r.text[:200])
        r = web.get(f"{d.url}/js/script.nope.js")
        assert r.status_code == 404
        assert "script.hash.outbound-links.js" in r.text
