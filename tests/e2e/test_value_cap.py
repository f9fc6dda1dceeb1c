"""The distinct-values cap through the real daemon: rollup breakdowns keep
the first values of the day and one `(other)` row, totals stay exact, the
admission survives a restart, and per-event questions still see every value."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests import web
from tests.e2e.stats_traffic import AUTH, EXTRA
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"
CAP = 4


def send(d: Daemon, first: int, n: int, ts_ms: int) -> None:
    """Visitor k sees /page/k once, with prop plan=pk: one page view each."""
    with web.Client(timeout=20) as client:
        for k in range(first, first + n):
            event = {
                "siteId": TEST_SITE,
                "eventType": "pageview",
                "path": f"/page/{k}",
                "props": {"plan": f"p{k}"},
                "timestamp": datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(),
            }
            r = client.post(
                f"{d.url}/api/event",
                json=event,
                headers={"X-Forwarded-For": f"10.9.0.{k}", "User-Agent": UA},
            )
            assert r.status_code == 202, r.text


def breakdown(
    d: Daemon, day: str, prop: str, metric: str = "pageviews", **extra: str
) -> dict[str, Any]:
    r = web.get(
        f"{d.url}/api/v1/stats/breakdown",
        params={"site_id": TEST_SITE, "period": "day", "date": day, "property": prop,
                "metrics": metric, "limit": 100, **extra},
        headers=AUTH, timeout=30,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    key = prop.rsplit(":", 1)[1]
    return {row[key]: row[metric] for row in r.json()["results"]}


def total_pageviews(d: Daemon, day: str) -> int:
    r = web.get(
        f"{d.url}/api/v1/stats/aggregate",
        params={"site_id": TEST_SITE, "period": "day", "date": day, "metrics": "pageviews"},
        headers=AUTH, timeout=30,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["pageviews"]["value"])


def test_values_past_the_cap_share_one_other_row(tmp_path: Path) -> None:
    ts = int(time.time() * 1000) - 60_000
    day = datetime.fromtimestamp(ts / 1000, UTC).date().isoformat()
    port = free_port()
    config = write_config(
        tmp_path, port, extra=EXTRA, aggregator_extra=f"max_values_per_day = {CAP}"
    )
    d = Daemon(config, port)
    d.start()
    try:
        send(d, 0, 10, ts)
        d.wait_caught_up()
        pages = breakdown(d, day, "event:page")
        assert pages == {**{f"/page/{k}": 1 for k in range(CAP)}, "(other)": 10 - CAP}, pages
        assert total_pageviews(d, day) == 10
        d.stop()
        # After a restart the admitted values are read back from the rows:
        # an admitted page keeps its row, a new one still goes to (other).
        d.start()
        send(d, 0, 1, ts)
        send(d, 10, 3, ts)
        d.wait_caught_up()
        pages = breakdown(d, day, "event:page")
        assert pages == {
            "/page/0": 2,
            **{f"/page/{k}": 1 for k in range(1, CAP)},
            "(other)": 13 - CAP,
        }, pages
        assert total_pageviews(d, day) == 14
        entries = breakdown(d, day, "visit:entry_page", "visits")
        # 13 visits (visitor 0 came back within its visit); which entry pages
        # got rows is the order visits were settled in, not the events'.
        assert sum(entries.values()) == 13, entries
        assert "(other)" in entries, entries
        assert len(entries) == CAP + 1, entries
        plans = breakdown(d, day, "event:props:plan")
        assert len(plans) == CAP + 1, plans
        assert sum(plans.values()) == 14, plans
        # Per-event rows keep every value: a filtered question sees a folded page.
        folded = breakdown(
            d, day, "visit:browser", filters="event:page==/page/11;visit:os==Windows"
        )
        assert folded == {"Firefox": 1}, folded
        health = d.health()
        assert health["aggregator"]["values_folded"] > 0, health["aggregator"]
    finally:
        d.stop()
