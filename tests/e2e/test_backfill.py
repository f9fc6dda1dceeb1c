"""`analyticsd backfill` and `/api/backfill` against the real daemon.

The acceptance check, made honest for what live ingest allows: a year of
sparse generated traffic (0-3 visitors a day, 1-4 events each, some of them
"Signup" conversions) is backfilled into daemon A from one NDJSON file.

* The last five days of that traffic are also sent to a fresh daemon B
  through the public `/api/batch`, one client (own IP and user agent) per
  generated visitor; those dates are inside the 7-day window live ingest
  accepts. For those days every v1 aggregate figure (visitors, visits, page
  views, bounce rate, visit duration, events) and the goal breakdown of A
  equal B's. Each generated visitor comes on one day only, so how each
  daemon keys visitors across days (B: one salt for every event received
  today; A: one id per local day) cannot make the figures differ.
* Older dates cannot be sent live, so A's months and its whole year are
  compared with totals counted by hand from the generated events.

Other checks: bad lines (bad JSON, a line ingest would refuse, an IP)
refused with their line numbers and nothing stored; a second backfill of
the same file adds nothing; the public /api/event still refuses an event
older than 7 days, and /api/backfill wants an unscoped token.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "backfill-token-0123456789abcdef"
SCOPED = "backfill-scoped-0123456789abcdef"
EXTRA = f"""
[api]
tokens = ["{TOKEN}", {{ token = "{SCOPED}", sites = ["{TEST_SITE}"] }}]
"""
SITE_EXTRA = """
[[sites.goals]]
event = "Signup"
"""
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
METRICS = "visitors,visits,pageviews,bounce_rate,visit_duration,events"
LIVE_DAYS = 5
PAGES = ("/", "/pricing", "/docs", "/blog")


@dataclass(frozen=True)
class Ev:
    day: date
    user: str
    ts: datetime
    kind: str
    path: str
    eid: str

    def line(self) -> dict[str, Any]:
        return {
            "eventType": self.kind,
            "url": f"https://test.example{self.path}",
            "timestamp": self.ts.isoformat(),
            "eventId": self.eid,
            "visitorId": self.user,
        }


def generate(today: date) -> list[Ev]:
    """One year up to yesterday; each visitor one visit on one day."""
    rnd = random.Random(7)
    out: list[Ev] = []
    for back in range(365, 0, -1):
        day = today - timedelta(days=back)
        for u in range(rnd.randint(0, 3)):
            user = f"user-{day.isoformat()}-{u}"
            t = datetime(day.year, day.month, day.day, 9 + 3 * u, rnd.randint(0, 50), tzinfo=UTC)
            for i in range(rnd.randint(1, 4)):
                kind = "Signup" if i > 0 and rnd.random() < 0.3 else "pageview"
                eid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                out.append(Ev(day, user, t, kind, rnd.choice(PAGES), eid))
                t += timedelta(seconds=rnd.randint(5, 300))
    return out


def start(tmp: Path, retention_days: int = 400) -> Daemon:
    port = free_port()
    config = write_config(tmp, port, extra=EXTRA, site_extra=SITE_EXTRA)
    text = config.read_text().replace(
        "[storage]\n", f"[storage]\nraw_event_retention_days = {retention_days}\n", 1
    )
    config.write_text(text)
    d = Daemon(config, port)
    d.start()
    return d


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def v1(d: Daemon, endpoint: str, **params: Any) -> Any:
    r = web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params={"site_id": TEST_SITE, **params},
        headers=AUTH,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


def send_live(d: Daemon, events: list[Ev]) -> None:
    by_user: dict[str, list[Ev]] = defaultdict(list)
    for e in events:
        by_user[e.user].append(e)
    with web.Client(timeout=10) as client:
        for n, (_, evs) in enumerate(sorted(by_user.items())):
            items = [{"siteId": TEST_SITE, **e.line()} for e in evs]
            for item in items:
                item.pop("visitorId")
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={"User-Agent": UA, "X-Forwarded-For": f"203.0.113.{n % 250 + 1}"},
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text


def hand_totals(events: list[Ev]) -> dict[str, int]:
    visits = {e.user for e in events}  # one visit per visitor, by construction
    return {
        "visitors": len(visits),
        "visits": len(visits),
        "pageviews": sum(e.kind == "pageview" for e in events),
        "events": len(events),
    }


def signups(rows: list[dict[str, Any]]) -> int:
    return sum(int(r["events"]) for r in rows if r["goal"] == "Signup")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, list[Ev], Path]]:
    tmp = tmp_path_factory.mktemp("backfill")
    d = start(tmp / "a")
    today = datetime.now(UTC).date()
    events = generate(today)
    path = write_lines(tmp / "year.ndjson", [e.line() for e in events])
    try:
        done = d.cli("backfill", "--site", TEST_SITE, str(path))
        assert done.returncode == 0, done.stderr
        assert f"{len(events)} events stored, 0 already there" in done.stdout, done.stdout
        d.wait_caught_up()
        yield d, events, path
    finally:
        d.kill()


def test_last_days_equal_a_daemon_fed_live(
    year: tuple[Daemon, list[Ev], Path], tmp_path: Path
) -> None:
    a, events, _ = year
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=LIVE_DAYS), today - timedelta(days=1)
    recent = [e for e in events if first <= e.day <= last]
    assert len({e.user for e in recent}) >= 3  # the sample says something
    b = start(tmp_path / "b")
    try:
        send_live(b, recent)
        b.wait_caught_up()
        period = {"period": "custom", "date": f"{first},{last}"}
        got_a = v1(a, "aggregate", metrics=METRICS, **period)
        got_b = v1(b, "aggregate", metrics=METRICS, **period)
        assert got_a == got_b
        assert got_a["pageviews"]["value"] == hand_totals(recent)["pageviews"]
        goals = {"property": "event:goal", "metrics": "visitors,events", **period}
        assert v1(a, "breakdown", **goals) == v1(b, "breakdown", **goals)
        for day in (first, last):
            one = {"period": "day", "date": day.isoformat()}
            assert v1(a, "aggregate", metrics=METRICS, **one) == v1(
                b, "aggregate", metrics=METRICS, **one
            )
    finally:
        b.kill()


def test_older_months_and_the_year_match_hand_counts(
    year: tuple[Daemon, list[Ev], Path],
) -> None:
    a, events, _ = year
    today = datetime.now(UTC).date()
    months = sorted({(e.day.year, e.day.month) for e in events})[1:4]  # whole months, long ago
    for y, m in months:
        inside = [e for e in events if (e.day.year, e.day.month) == (y, m)]
        got = v1(
            a,
            "aggregate",
            metrics="visitors,visits,pageviews,events",
            period="month",
            date=f"{y:04d}-{m:02d}-01",
        )
        assert {k: got[k]["value"] for k in got} == hand_totals(inside), (y, m)
        goal_rows = v1(
            a,
            "breakdown",
            property="event:goal",
            metrics="events",
            period="month",
            date=f"{y:04d}-{m:02d}-01",
        )
        assert signups(goal_rows) == sum(e.kind == "Signup" for e in inside)
    span = {"period": "custom", "date": f"{events[0].day},{today - timedelta(days=1)}"}
    got = v1(a, "aggregate", metrics="pageviews,events", **span)
    assert got["pageviews"]["value"] == hand_totals(events)["pageviews"]
    assert got["events"]["value"] == len(events)


def test_a_second_backfill_of_the_same_file_adds_nothing(
    year: tuple[Daemon, list[Ev], Path],
) -> None:
    a, events, path = year
    span = {"period": "custom", "date": f"{events[0].day},{events[-1].day}"}
    before = v1(a, "aggregate", metrics="pageviews,events,visits", **span)
    again = a.cli("backfill", "--site", TEST_SITE, str(path))
    assert again.returncode == 0, again.stderr
    assert f"0 events stored, {len(events)} already there" in again.stdout, again.stdout
    a.wait_caught_up()
    assert v1(a, "aggregate", metrics="pageviews,events,visits", **span) == before


def test_bad_lines_are_named_and_nothing_is_stored(tmp_path: Path) -> None:
    d = start(tmp_path / "d")
    try:
        ts = (datetime.now(UTC) - timedelta(days=20)).isoformat()
        good = {
            "eventType": "pageview",
            "url": "https://test.example/",
            "timestamp": ts,
            "visitorId": "v1",
        }
        path = write_lines(
            tmp_path / "bad.ndjson",
            [
                {**good, "eventId": str(uuid.uuid4())},
                '{"eventType": "pageview", ',  # line 2: not JSON
                {**good, "eventId": str(uuid.uuid4()), "path": 7},  # 3: ingest refuses it
                {**good, "eventId": str(uuid.uuid4()), "ip": "198.51.100.7"},  # 4: a raw IP
                {**good},  # 5: no eventId
                {**good, "eventId": str(uuid.uuid4()), "timestamp": "2001-01-01T00:00:00Z"},
            ],
        )
        done = d.cli("backfill", "--site", TEST_SITE, str(path))
        assert done.returncode == 1
        for n in (2, 3, 4, 5, 6):
            assert f"line {n}:" in done.stderr, done.stderr
        assert "line 1:" not in done.stderr
        assert "nothing sent" in done.stderr
        # The daemon refuses the same body by itself, all or nothing.
        r = web.post(
            f"{d.url}/api/backfill",
            params={"site": TEST_SITE, "first_line": "1"},
            content=path.read_bytes(),
            headers=AUTH,
            timeout=10,
        )
        assert r.status_code == 400, r.text
        assert any(m.startswith("line 3:") for m in r.json()["message"]), r.text
        d.wait_caught_up()
        day = ts[:10]
        assert d.stats(day).status_code == 404  # nothing of the file was stored
        ok = write_lines(tmp_path / "ok.ndjson", [{**good, "eventId": str(uuid.uuid4())}] * 2)
        done = d.cli("backfill", "--site", TEST_SITE, str(ok))
        assert done.returncode == 0, done.stderr
        assert "1 events stored, 1 already there" in done.stdout  # the repeated line
        d.wait_caught_up()
        assert d.stats(day).json()["totalViews"] == 1
    finally:
        d.kill()


def test_only_backfill_takes_old_events_and_only_with_an_unscoped_token(tmp_path: Path) -> None:
    d = start(tmp_path / "d")
    try:
        ts = (datetime.now(UTC) - timedelta(days=10)).isoformat()
        ev = {
            "siteId": TEST_SITE,
            "eventType": "pageview",
            "url": "https://test.example/",
            "timestamp": ts,
            "eventId": str(uuid.uuid4()),
        }
        r = web.post(f"{d.url}/api/event", json=ev, timeout=10)
        assert r.status_code == 400
        assert "7 days in the past" in r.text
        body = json.dumps({**ev, "visitorId": "v"}).encode()
        params = {"site": TEST_SITE}
        for headers, status in (
            ({}, 401),
            ({"Authorization": f"Bearer {SCOPED}"}, 403),
            ({"Authorization": "Bearer wrong-token-0123456789"}, 403),
        ):
            r = web.post(
                f"{d.url}/api/backfill", params=params, content=body, headers=headers, timeout=10
            )
            assert r.status_code == status, r.text
        d.wait_caught_up()
        assert d.stats(ts[:10]).status_code == 404
        r = web.post(f"{d.url}/api/backfill", params=params, content=body, headers=AUTH, timeout=10)
        assert r.status_code == 202, r.text
        assert r.json()["stored"] == 1
        d.wait_caught_up()
        assert d.stats(ts[:10]).json()["totalViews"] == 1
    finally:
        d.kill()


PRICING_GOAL = """
[[sites.goals]]
page = "/pricing"
"""


def start_with(tmp: Path, site_extra: str) -> Daemon:
    port = free_port()
    config = write_config(tmp, port, extra=EXTRA, site_extra=site_extra)
    config.write_text(
        config.read_text().replace("[storage]\n", "[storage]\nraw_event_retention_days = 400\n", 1)
    )
    d = Daemon(config, port)
    d.start()
    return d


def post_live(d: Daemon, live: list[dict[str, Any]]) -> list[int]:
    """Each event from a client of its own; the statuses."""
    out = []
    with web.Client(timeout=10) as client:
        for i, ev in enumerate(live):
            headers = {"User-Agent": UA, "X-Forwarded-For": f"198.51.100.{i + 1}"}
            out.append(client.post(f"{d.url}/api/event", json=ev, headers=headers).status_code)
    return out


def goal_rows(d: Daemon, **period: str) -> dict[str, tuple[int, int]]:
    rows = v1(d, "breakdown", property="event:goal", metrics="visitors,events", **period)
    return {r["goal"]: (r["visitors"], r["events"]) for r in rows}


def test_recompute_a_month_after_a_goal_changed(tmp_path: Path) -> None:
    """The goal changes from the "Signup" event to the page /pricing; the
    last 30 days are recomputed while live events keep coming in.

    * The recomputed days' goal rows are the page goal's, counted by hand
      from the generated events; the days before the range keep "Signup".
    * The last five days equal a fresh daemon C configured with the page
      goal and fed those days live (bounce rate included: a lone /pricing
      view is a conversion now, so no bounce).
    * The live events sent meanwhile (to a recomputed day and to today)
      are all counted once: the day's page views are the backfilled plus
      the live ones.
    """
    a = start_with(tmp_path / "a", SITE_EXTRA)
    c: Daemon | None = None
    try:
        today = datetime.now(UTC).date()
        events = generate(today)
        path = write_lines(tmp_path / "year.ndjson", [e.line() for e in events])
        assert a.cli("backfill", "--site", TEST_SITE, str(path)).returncode == 0
        a.wait_caught_up()
        first, last = today - timedelta(days=30), today - timedelta(days=1)
        before = {
            "period": "custom",
            "date": f"{first - timedelta(days=60)},{first - timedelta(days=1)}",
        }
        old_goals = goal_rows(a, **before)
        assert "Signup" in old_goals

        a.config.write_text(a.config.read_text().replace(SITE_EXTRA, PRICING_GOAL))
        reloaded = a.cli("reload")
        assert reloaded.returncode == 0, reloaded.stderr
        live_day = last
        live = [
            {
                "siteId": TEST_SITE,
                "eventType": "pageview",
                "url": "https://test.example/pricing",
                "timestamp": datetime(d.year, d.month, d.day, 20, i, tzinfo=UTC).isoformat(),
                "eventId": str(uuid.uuid4()),
            }
            for i in range(20)
            for d in (live_day,)
        ]
        statuses: list[int] = []
        sender = threading.Thread(target=lambda: statuses.extend(post_live(a, live)))
        sender.start()
        done = a.cli("recompute", "--site", TEST_SITE, "--from", str(first), "--to", str(last))
        sender.join(timeout=60)
        assert statuses == [202] * len(live)
        assert done.returncode == 0, done.stderr
        assert "30 day(s)" in done.stdout, done.stdout
        a.wait_caught_up()

        span = {"period": "custom", "date": f"{first},{last}"}
        inside = [e for e in events if first <= e.day <= last]
        pricing = [e for e in inside if e.kind == "pageview" and e.path == "/pricing"]
        expected = (len({e.user for e in pricing}) + len(live), len(pricing) + len(live))
        assert goal_rows(a, **span) == {"Visit /pricing": expected}
        assert goal_rows(a, **before) == old_goals  # days outside the range untouched
        day = {"period": "day", "date": str(live_day)}
        backfilled = sum(e.kind == "pageview" for e in events if e.day == live_day)
        assert v1(a, "aggregate", metrics="pageviews", **day)["pageviews"]["value"] == (
            backfilled + len(live)
        )

        c = start_with(tmp_path / "c", PRICING_GOAL)
        recent_first = today - timedelta(days=LIVE_DAYS)
        recent = [e for e in events if recent_first <= e.day <= last]
        send_live(c, recent)
        assert post_live(c, live) == [202] * len(live)  # what A got, from the same clients
        c.wait_caught_up()
        period = {"period": "custom", "date": f"{recent_first},{last}"}
        assert v1(a, "aggregate", metrics=METRICS, **period) == v1(
            c, "aggregate", metrics=METRICS, **period
        )
        assert goal_rows(a, **period) == goal_rows(c, **period)
    finally:
        a.kill()
        if c is not None:
            c.kill()


def test_recompute_refuses_days_without_per_event_rows(tmp_path: Path) -> None:
    d = start_with(tmp_path / "d", SITE_EXTRA)
    try:
        today = datetime.now(UTC).date()
        ts = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=3)
        ev = {
            "eventType": "pageview",
            "url": "https://test.example/",
            "visitorId": "v",
            "timestamp": ts.isoformat(),
            "eventId": str(uuid.uuid4()),
        }
        path = write_lines(tmp_path / "one.ndjson", [ev])
        assert d.cli("backfill", "--site", TEST_SITE, str(path)).returncode == 0
        d.wait_caught_up()
        old = today - timedelta(days=450)
        for first, last, why in (
            (old, today - timedelta(days=1), "older than raw_event_retention_days"),
            (today, today + timedelta(days=1), "in the future"),
        ):
            done = d.cli("recompute", "--site", TEST_SITE, "--from", str(first), "--to", str(last))
            assert done.returncode == 1
            assert why in done.stderr, done.stderr
            assert "nothing rebuilt" in done.stderr
        r = web.post(
            f"{d.url}/api/recompute",
            params={"site": TEST_SITE, "date": str(old)},
            headers=AUTH,
            timeout=10,
        )
        assert r.status_code == 409, r.text
        r = web.post(
            f"{d.url}/api/recompute",
            params={"site": TEST_SITE, "date": str(ts.date())},
            headers={"Authorization": f"Bearer {SCOPED}"},
            timeout=10,
        )
        assert r.status_code == 403, r.text
        assert d.stats(str(ts.date())).json()["totalViews"] == 1
    finally:
        d.kill()


def test_a_crash_inside_a_recompute_leaves_each_day_whole(tmp_path: Path) -> None:
    """Killed (SIGKILL) inside the second day's transaction: after the
    restart the first day is rebuilt, the second and third are as before
    (none half done), nothing is counted twice, and running it again
    finishes the range."""
    d = start_with(tmp_path / "d", SITE_EXTRA)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (5, 4, 3)]
    lines = []
    for day in days:
        t = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
        for user, kind, page in (("u1", "pageview", "/pricing"), ("u2", "Signup", "/")):
            lines.append(
                {
                    "eventType": kind,
                    "url": f"https://test.example{page}",
                    "timestamp": t.isoformat(),
                    "eventId": str(uuid.uuid4()),
                    "visitorId": f"{user}-{day}",
                }
            )
    path = write_lines(tmp_path / "three.ndjson", lines)
    try:
        assert d.cli("backfill", "--site", TEST_SITE, str(path)).returncode == 0
        d.wait_caught_up()
        d.stop()
        d.config.write_text(d.config.read_text().replace(SITE_EXTRA, PRICING_GOAL))
        d.start(failpoint="recompute.before_commit:2")
        span = ("--from", str(days[0]), "--to", str(days[-1]))
        crashed = d.cli("recompute", "--site", TEST_SITE, *span)
        assert crashed.returncode != 0
        d.wait()  # killed by the failpoint
        d.start()
        by_day = [goal_rows(d, period="day", date=str(day)) for day in days]
        assert by_day == [{"Visit /pricing": (1, 1)}, {"Signup": (1, 1)}, {"Signup": (1, 1)}]
        totals = v1(
            d,
            "aggregate",
            metrics="pageviews,events,visits",
            period="custom",
            date=f"{days[0]},{days[-1]}",
        )
        assert totals == {"pageviews": {"value": 3}, "events": {"value": 6}, "visits": {"value": 6}}
        assert d.cli("recompute", "--site", TEST_SITE, *span).returncode == 0
        by_day = [goal_rows(d, period="day", date=str(day)) for day in days]
        assert by_day == [{"Visit /pricing": (1, 1)}] * 3
    finally:
        d.kill()
