"""The aggregator's memory budget changes no count.

The same traffic goes to two daemons: one with the smallest budget (1 MB:
unique-visitor marks go to the spill file after a few hundred visitors,
open visits are evicted past 1,000), one with none. Visitors come back
after their visits were evicted, within their 30 minutes, so their visits
must be read back, not split. Every number the Stats API gives for the day
must be the same on both, and the budgeted one must have spilled and read
back (or the test proved nothing). Both restart between the two rounds.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests import web
from tests.e2e.stats_traffic import AUTH, EXTRA
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
VISITORS = 3000
RETURNING = 1000  # the first ones: their visits are the first evicted
SOURCES = ["https://news.example/", "https://search.example/?q=x", ""]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def traffic(seed: int, base_ms: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """(X-Forwarded-For, batch) per request: 1-3 page views per visitor, then
    more from the returning ones (10 minutes later: the same visit), some on
    pages they saw already. Event times are given, so both daemons see the
    same durations whenever the requests arrive."""
    rnd = random.Random(seed)
    out = []
    for round_, n in [*((0, n) for n in range(VISITORS)), *((1, n) for n in range(RETURNING))]:
        ip = f"10.0.{n >> 8}.{n & 255}"
        start = base_ms + round_ * 600_000 + n * 10
        events = [
            {
                "siteId": TEST_SITE,
                "eventType": "pageview",
                "path": f"/p/{rnd.randint(1, 60)}",
                "referrer": rnd.choice(SOURCES) if i == 0 else "",
                "timestamp": iso(start + i * rnd.randint(1_000, 20_000)),
            }
            for i in range(rnd.randint(1, 3))
        ]
        if rnd.random() < 0.2:
            events.append(
                {"siteId": TEST_SITE, "eventType": "Signup", "path": "/signup",
                 "timestamp": iso(start + 30_000)}
            )  # fmt: skip
        out.append((ip, events))
    return out


def feed(d: Daemon, requests: list[tuple[str, list[dict[str, Any]]]]) -> None:
    with web.Client(timeout=20) as client:
        for ip, events in requests:
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": events},
                headers={"X-Forwarded-For": ip, "User-Agent": UA},
            )
            assert r.status_code == 202, r.text


def day_numbers(d: Daemon, day: str) -> dict[str, Any]:
    common = {"site_id": TEST_SITE, "period": "day", "date": day}
    metrics = "visitors,visits,pageviews,events,bounce_rate,visit_duration,views_per_visit"
    out: dict[str, Any] = {}
    r = web.get(f"{d.url}/api/v1/stats/aggregate", params=common | {"metrics": metrics},
                headers=AUTH, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    out["totals"] = r.json()["results"]
    for prop in ("event:page", "visit:source", "visit:entry_page", "visit:exit_page", "event:goal"):
        r = web.get(
            f"{d.url}/api/v1/stats/breakdown",
            params=common | {"property": prop, "metrics": "visitors,visits", "limit": 1000},
            headers=AUTH,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        out[prop] = sorted(r.json()["results"], key=lambda row: str(row))
    return out


def run(
    tmp: Path, memory_mb: int, requests: list[tuple[str, list[dict[str, Any]]]], day: str
) -> Any:
    port = free_port()
    d = Daemon(write_config(tmp, port, extra=EXTRA, memory_mb=memory_mb), port)
    d.start()
    try:
        feed(d, requests[:VISITORS])
        # A restart between the rounds: the budgeted daemon loads only the
        # open visits its budget holds and reads the others back on return.
        d.wait_caught_up(timeout=60)
        d.stop()
        d.start()
        feed(d, requests[VISITORS:])
        health = d.wait_caught_up(timeout=60)
        return day_numbers(d, day), health["aggregator"]["memory"]
    finally:
        d.stop()


def test_the_smallest_budget_counts_exactly_what_no_budget_counts(tmp_path: Path) -> None:
    # Far enough back that the returning round (10 min later) is not ahead.
    base_ms = int(time.time() * 1000) - 20 * 60_000
    day = datetime.fromtimestamp(base_ms / 1000, UTC).date().isoformat()
    requests = traffic(7, base_ms)
    budgeted, memory = run(tmp_path / "budget", 1, requests, day)
    unlimited, _ = run(tmp_path / "unlimited", 0, requests, day)
    assert memory["marks_spilled"] > 0, memory
    assert memory["visits_restored"] > 0, memory
    assert budgeted["totals"]["visitors"]["value"] == VISITORS
    assert budgeted["totals"]["visits"]["value"] == VISITORS  # the returns continued theirs
    assert budgeted["totals"] == unlimited["totals"]
    assert budgeted == unlimited
    assert not (tmp_path / "budget" / "data" / "spill.sqlite3").exists()  # removed at stop
