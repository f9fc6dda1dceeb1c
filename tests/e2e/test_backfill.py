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
        got = v1(a, "aggregate", metrics="visitors,visits,pageviews,events",
                 period="month", date=f"{y:04d}-{m:02d}-01")  # fmt: skip
        assert {k: got[k]["value"] for k in got} == hand_totals(inside), (y, m)
        goal_rows = v1(a, "breakdown", property="event:goal", metrics="events",
                       period="month", date=f"{y:04d}-{m:02d}-01")  # fmt: skip
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
        good = {"eventType": "pageview", "url": "https://test.example/", "timestamp": ts,
                "visitorId": "v1"}  # fmt: skip
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
        ev = {"siteId": TEST_SITE, "eventType": "pageview", "url": "https://test.example/",
              "timestamp": ts, "eventId": str(uuid.uuid4())}  # fmt: skip
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
            r = web.post(f"{d.url}/api/backfill", params=params, content=body,
                         headers=headers, timeout=10)  # fmt: skip
            assert r.status_code == status, r.text
        d.wait_caught_up()
        assert d.stats(ts[:10]).status_code == 404
        r = web.post(f"{d.url}/api/backfill", params=params, content=body, headers=AUTH,
                     timeout=10)  # fmt: skip
        assert r.status_code == 202, r.text
        assert r.json()["stored"] == 1
        d.wait_caught_up()
        assert d.stats(ts[:10]).json()["totalViews"] == 1
    finally:
        d.kill()
