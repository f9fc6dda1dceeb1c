"""Edges, hubs and traffic for the forwarding and hub tests."""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import redis

from analyticsd.core import stream_entry
from analyticsd.core.aggregate import BOTS, DAY, SITE
from tests import web
from tests.core.records_fixture import rec
from tests.helpers import TEST_SITE, Daemon, free_port, write_config
from tests.redis_server import RedisServer

STREAM = "analyticsd:events"
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
PAGES = ["/", "/pricing", "/docs", "/blog/a", "/blog/b"]


def edge(tmp: Path, redis: RedisServer, *, forward_extra: str = "", **cfg: Any) -> Daemon:
    port = free_port()
    extra = f"""
[forward]
enabled = true
redis_url = "{redis.url}"
stream = "{STREAM}"
probe_interval_s = 0.2
max_backoff_s = 1.0
timeout_s = 1.0
{forward_extra}
"""
    return Daemon(write_config(tmp, port, extra=extra, **cfg), port)


def hub(tmp: Path, redis: RedisServer, *, hub_extra: str = "", **cfg: Any) -> Daemon:
    port = free_port()
    extra = f"""
[hub]
enabled = true
redis_url = "{redis.url}"
stream = "{STREAM}"
max_backoff_s = 1.0
timeout_s = 2.0
{hub_extra}
"""
    return Daemon(write_config(tmp, port, extra=extra, **cfg), port)


def traffic(n: int, seed: int) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """`n` events in requests of up to 25 from one client each:
    (X-Forwarded-For, User-Agent, events). Page views, a custom event with
    revenue now and then, paths and timestamps spread over the last hour."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    out: list[tuple[str, str, list[dict[str, Any]]]] = []
    left = n
    while left:
        k = min(left, rnd.randint(5, 25))
        left -= k
        ip = f"203.0.113.{rnd.randint(1, 40)}"
        ua = rnd.choice(UAS)
        events = []
        for _ in range(k):
            ts = now - timedelta(seconds=rnd.randint(60, 3000))
            ev: dict[str, Any] = {
                "siteId": TEST_SITE,
                "eventType": "pageview",
                "path": rnd.choice(PAGES),
                "timestamp": ts.isoformat(),
                # From the seed too: the same call gives the same eventIds,
                # so a test can send a request again as a client would.
                "eventId": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            }
            if rnd.random() < 0.1:
                ev["eventType"] = "purchase"
                ev["revenue"] = {"amount": f"{rnd.randint(1, 99)}.50", "currency": "EUR"}
            events.append(ev)
        out.append((ip, ua, events))
    return out


def send(
    d: Daemon, reqs: list[tuple[str, str, list[dict[str, Any]]]], expect: int = 202
) -> list[str]:
    """Send every request; returns the eventIds acknowledged, in order."""
    acked: list[str] = []
    with web.Client(timeout=30) as c:
        for ip, ua, events in reqs:
            r = c.post(
                f"{d.url}/api/batch",
                json={"events": events},
                headers={"X-Forwarded-For": ip, "User-Agent": ua},
            )
            assert r.status_code == expect, r.text
            acked += [e["eventId"] for e in events]
    return acked


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def forwarded_all(d: Daemon) -> bool:
    fw = d.health()["forwarder"]
    return fw["state"] == "healthy" and fw["backlog_events"] == 0


def agg_rows(d: Daemon) -> list[tuple[Any, ...]]:
    """Every aggregate and revenue row that holds a number, as stored in
    SQLite. Rows that are all zeros are left out: one appears when a visit's
    entry or exit moved after a flush had written it, so whether it exists
    depends on when flushes happened, not on what was counted."""
    db = d.config.parent / "data" / "stats.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        agg = c.execute(
            "SELECT * FROM agg WHERE max(visitors, visits, pageviews, events, bounces,"
            " duration_ms, engaged, conversions) > 0 ORDER BY site, gran, bucket, dim, val"
        ).fetchall()
        rev = c.execute(
            "SELECT * FROM revenue WHERE n > 0 OR amount_micros <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
    return [("agg", *r) for r in agg] + [("revenue", *r) for r in rev]


def counted(d: Daemon) -> int:
    """Events counted in SQLite: human events plus bot events, by day."""
    db = d.config.parent / "data" / "stats.sqlite3"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        n = c.execute(
            "SELECT coalesce(sum(events), 0) FROM agg WHERE gran = ? AND dim IN (?, ?)",
            (DAY, SITE, BOTS),
        ).fetchone()[0]
    return int(n)


def caught_up(d: Daemon, expected: int) -> bool:
    """At least `expected` events counted and nothing left to count."""
    h = d.health()
    if h["aggregator"]["lag_events"]:
        return False
    return counted(d) >= expected


def wire_entries(n: int, seed: int, site: str = TEST_SITE) -> list[tuple[bytes, bytes]]:
    """`n` forwarded events as an edge would XADD them: page views of 40
    visitors over the last hour, each with its own eventId."""
    rnd = random.Random(seed)
    now_ms = int(time.time() * 1000)
    out = []
    for _ in range(n):
        ts = now_ms - rnd.randint(60_000, 3_000_000)
        record = rec(
            ts,
            visitor=f"{rnd.randint(1, 40):016x}",
            path=rnd.choice(PAGES),
            site=site,
            received_ms=now_ms,
        )
        out.append(stream_entry.encode(msgspec.structs.replace(record, event_id=str(uuid.uuid4()))))
    return out


def xadd_all(r: redis.Redis, entries: list[tuple[bytes, bytes]], stream: str = STREAM) -> None:
    pipe = r.pipeline(transaction=False)
    for event_id, event in entries:
        pipe.xadd(stream, {b"event_id": event_id, b"event": event})
    pipe.execute()
