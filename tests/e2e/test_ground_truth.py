"""A day of generated traffic with known ground truth, through the real daemon.

Visitors come from distinct addresses (X-Forwarded-For from the trusted
loopback proxy) with desktop, mobile and tablet browsers, land from search,
social, e-mail, ads or directly, browse a few pages, sign up, buy; bots crawl
alongside. Every expected number below is computed from the generated plan,
not from the daemon's code, and must match the stored aggregates exactly.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from analyticsd.core.aggregate import DAY, SITE, day_number
from tests import web
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

GOALS = """
[[sites.goals]]
event = "Signup"

[[sites.goals]]
page = "/thank-you"
name = "Thanks page"
"""
DEVICES = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    ),
}
BROWSERS = {"desktop": "Firefox", "mobile": "Safari", "tablet": "Safari"}
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# (landing fields, channel)
LANDINGS: list[tuple[dict[str, Any], str]] = [
    ({}, "Direct"),
    ({"referrer": "https://www.google.co.uk/search?q=analytics"}, "Organic Search"),
    ({"referrer": "https://t.co/xyz"}, "Organic Social"),
    ({"utm_source": "newsletter", "utm_medium": "email"}, "Email"),
    # A Google ads click (gclid, from Google) is paid search, as Plausible's.
    (
        {"url": "https://test.example/?gclid=abc", "referrer": "https://www.google.com/"},
        "Paid Search",
    ),
    ({"referrer": "https://blog.example.org/post"}, "Referral"),
    ({"referrer": "https://test.example/other-page"}, "Direct"),  # self-referral
]
PAGES = ["/", "/pricing", "/docs", "/blog/a", "/blog/b", "/thank-you"]
GEO = {"203.0.113": "DE", "198.51.100": "FR"}


@dataclass
class Visit:
    visitor: int
    ip: str
    device: str
    channel: str
    landing: dict[str, Any]
    # (ts ms, event name, path, revenue)
    events: list[tuple[int, str, str, tuple[str, str] | None]] = field(default_factory=list)


def plan(start_ms: int, rng: random.Random) -> list[Visit]:
    visits: list[Visit] = []
    for v in range(60):
        ip = f"{'203.0.113' if v % 3 else '198.51.100'}.{v + 1}"
        device = ("desktop", "mobile", "tablet")[v % 3]
        t = start_ms + rng.randrange(0, 3 * 3600_000)
        for _ in range(rng.randint(1, 3)):
            landing, channel = LANDINGS[rng.randrange(len(LANDINGS))]
            visit = Visit(v, ip, device, channel, landing)
            for j in range(rng.choice([1, 1, 2, 3, 5])):
                path = rng.choice(PAGES) if j else rng.choice(PAGES[:5])
                visit.events.append((t, "pageview", path, None))
                t += rng.choice([0, 2_000, 9_999, 10_000, 60_000, 29 * 60_000, 30 * 60_000])
            if rng.random() < 0.2:
                visit.events.append((t, "Signup", visit.events[-1][2], None))
            if rng.random() < 0.15:
                amount = rng.choice(["19.99", "5", "120.50"])
                visit.events.append((t, "purchase", "/checkout", (amount, "EUR")))
            if rng.random() < 0.2:
                visit.events.append((t, "Outbound Link: Click", "/docs", None))
            visits.append(visit)
            t += 30 * 60_000 + 1 + rng.randrange(0, 3600_000)  # a new visit
    return visits


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def send(d: Daemon, visit: Visit, client: httpx.Client, part: slice = slice(None)) -> None:
    items = []
    for i, (ts, name, path, revenue) in list(enumerate(visit.events))[part]:
        item: dict[str, Any] = {
            "siteId": TEST_SITE,
            "eventType": name,
            "path": path,
            "timestamp": iso(ts),
            "eventId": str(uuid.uuid4()),
            "screenWidth": {"desktop": 1920, "mobile": 390, "tablet": 820}[visit.device],
        }
        if i == 0:
            item.update(visit.landing)
            if "url" in item:
                item["url"] = item["url"].replace("/?", path + "?")
                del item["path"]
        if revenue:
            item["revenue"] = {"amount": revenue[0], "currency": revenue[1]}
        items.append(item)
    r = client.post(
        f"{d.url}/api/batch",
        json={"events": items},
        headers={
            "User-Agent": DEVICES[visit.device],
            "X-Forwarded-For": visit.ip,
            "Accept-Language": "de-DE,de;q=0.9",
        },
    )
    assert r.status_code == 202, r.text
    assert not r.json()["rejected"]


def day_of(ms: int) -> int:
    return day_number(datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d"))


def goals_of(name: str, path: str) -> list[str]:
    if name == "Signup":
        return ["Signup"]
    if name == "purchase":
        return ["purchase"]
    if name == "pageview" and path == "/thank-you":
        return ["Thanks page"]
    return []


def expected(visits: list[Visit]) -> dict[str, Any]:
    exp: dict[str, Any] = defaultdict(Counter)
    visitors_by_day: dict[int, set[int]] = defaultdict(set)
    for v in visits:
        times = [e[0] for e in v.events]
        start = day_of(min(times))
        pvs = [e for e in v.events if e[1] == "pageview"]
        conv = sum(1 for e in v.events if goals_of(e[1], e[2]))
        duration = max(times) - min(times)
        bounce = len(pvs) == 1 and conv == 0
        engaged = duration >= 10_000 or len(pvs) >= 2 or conv > 0
        site = exp[("site", start)]
        site["visits"] += 1
        site["bounces"] += bounce
        site["duration_ms"] += duration
        site["engaged"] += engaged
        exp[("channel", start)][v.channel] += 1
        exp[("device_visits", start)][v.device.capitalize()] += 1  # Desktop, Mobile, Tablet
        entry = min(pvs, key=lambda e: e[0])[2]
        last = max(e[0] for e in pvs)
        exit_ = [e for e in pvs if e[0] == last][-1][2]  # same time: the later one
        exp[("entry", start)][entry] += 1
        exp[("exit", start)][exit_] += 1
        for ts, name, path, revenue in v.events:
            day = day_of(ts)
            visitors_by_day[day].add(v.visitor)
            site = exp[("site", day)]
            site["events"] += 1
            site["pageviews"] += name == "pageview"
            site["conversions"] += bool(goals_of(name, path))
            if name == "pageview":
                exp[("page", day)][path] += 1
            for g in goals_of(name, path):
                exp[("goal", day)][g] += 1
                exp[("goal_visitors", day)][(g, v.visitor)] = 1
            if revenue:
                exp[("revenue", day)][revenue[1]] += int(float(revenue[0]) * 1_000_000)
            exp[("country_visitors", day)][(GEO[v.ip.rsplit(".", 1)[0]], v.visitor)] = 1
            exp[("browser_visitors", day)][(BROWSERS[v.device], v.visitor)] = 1
    for day, who in visitors_by_day.items():
        exp[("site", day)]["visitors"] = len(who)
    return exp


def rows(db: sqlite3.Connection, day: int, dim: int, column: str) -> dict[str, int]:
    return {
        val: n
        for val, n in db.execute(
            f"SELECT val, {column} FROM agg WHERE site=? AND gran=? AND bucket=? AND dim=?",
            (TEST_SITE, DAY, day, dim),
        )
        if n
    }


def folded(pairs: Counter[Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    for key in pairs:
        out[key[0]] += 1
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kill_midway", [False, True], ids=["steady", "sigkill-midway"])
def test_a_day_of_traffic_matches_its_ground_truth(tmp_path: Path, kill_midway: bool) -> None:
    rng = random.Random(20261123)
    start = int((datetime.now(UTC) - timedelta(hours=23)).timestamp() * 1000)
    visits = plan(start, rng)
    assert max(e[0] for v in visits for e in v.events) < start + 23 * 3600_000
    geo = build_city_db(tmp_path / "city.mmdb")
    port = free_port()
    d = Daemon(write_config(tmp_path, port, site_extra=GOALS, geoip=str(geo)), port)
    d.start()
    try:
        with web.Client(timeout=10) as client:
            # Visits of different visitors interleave, as they would live.
            ordered = sorted(visits, key=lambda v: v.events[0][0])
            cut = next(
                i for i in range(len(ordered) // 2, len(ordered)) if len(ordered[i].events) > 1
            )
            for i, visit in enumerate(ordered):
                if kill_midway and i == cut:
                    # One visit is cut in two by a crash. Its session and the
                    # day's unique visitors must come back from SQLite: the
                    # visit is not split, no visitor is counted twice.
                    send(d, visit, client, slice(0, 1))
                    d.wait_caught_up()
                    d.kill()
                    d.start()
                    send(d, visit, client, slice(1, None))
                    continue
                send(d, visit, client)
            for i in range(7):  # a crawler alongside
                r = client.post(
                    f"{d.url}/api/event",
                    json={"siteId": TEST_SITE, "eventType": "pageview", "path": f"/b{i}"},
                    headers={"User-Agent": BOT_UA},
                )
                assert r.status_code == 202
        d.wait_caught_up()
        exp = expected(visits)
        db = sqlite3.connect(f"file:{tmp_path / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
        days = sorted({day_of(e[0]) for v in visits for e in v.events})
        cols = "visitors, visits, pageviews, events, bounces, duration_ms, engaged, conversions"
        for day in days:
            label = datetime(1970, 1, 1) + timedelta(days=day)
            # Through the HTTP stats endpoint...
            stats = d.stats(label.strftime("%Y-%m-%d")).json()
            site = exp[("site", day)]
            assert stats["totalViews"] == site["pageviews"]
            assert stats["uniqueUsers"] == site["visitors"]
            top = sorted(exp[("page", day)].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            assert [(p["path"], p["views"]) for p in stats["topPaths"]] == top
            # ...and through the SQLite tables for the rest.
            got = db.execute(
                f"SELECT {cols} FROM agg WHERE site=? AND gran=? AND bucket=? AND dim=? AND val=''",
                (TEST_SITE, DAY, day, SITE),
            ).fetchone()
            assert dict(zip(cols.split(", "), got, strict=True)) == {
                c: site[c] for c in cols.split(", ")
            }
            assert rows(db, day, 4, "visits") == dict(exp[("channel", day)])
            assert rows(db, day, 15, "visits") == dict(exp[("device_visits", day)])
            assert rows(db, day, 1, "visits") == dict(exp[("entry", day)])
            assert rows(db, day, 2, "visits") == dict(exp[("exit", day)])
            assert rows(db, day, 31, "events") == dict(exp[("goal", day)])
            assert rows(db, day, 31, "visitors") == dict(folded(exp[("goal_visitors", day)]))
            assert rows(db, day, 16, "visitors") == dict(folded(exp[("country_visitors", day)]))
            assert rows(db, day, 11, "visitors") == dict(folded(exp[("browser_visitors", day)]))
            revenue = dict(
                db.execute(
                    "SELECT currency, amount_micros FROM revenue WHERE site=? AND gran=? "
                    "AND bucket=? AND dim=?",
                    (TEST_SITE, DAY, day, SITE),
                ).fetchall()
            )
            assert revenue == dict(exp[("revenue", day)])
        # GeoIP regions and cities made it too; the crawler only in the bot rows.
        cities = {v for (v,) in db.execute("SELECT DISTINCT val FROM agg WHERE dim = 18")}
        assert cities == {"DE\x1fBerlin", "FR\x1fParis"}
        regions = {v for (v,) in db.execute("SELECT DISTINCT val FROM agg WHERE dim = 17")}
        assert regions == {"DE\x1fBerlin", "FR\x1fÎle-de-France"}
        bots = db.execute("SELECT sum(pageviews) FROM agg WHERE dim=40 AND gran=?", (DAY,))
        assert bots.fetchone() == (7,)
        languages = {v for (v,) in db.execute("SELECT DISTINCT val FROM agg WHERE dim = 20")}
        assert languages == {"de-DE"}
        n_events = sum(len(v.events) for v in visits)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (n_events,)
        assert db.execute("SELECT count(*) FROM sessions").fetchone() == (len(visits),)
        db.close()
    finally:
        d.kill()
