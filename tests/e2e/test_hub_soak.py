"""Acceptance soak: two edges and a hub on one real redis-server, 100,000
events. Redis memory stays bounded because the hub trims what it has
committed, every event is counted once, and a person seen by both edges on
one day is one visitor at the hub (the edges agree on their daily salts)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests import web
from tests.forwarding import caught_up, counted, edge, forwarded_all, hub, wait_until
from tests.helpers import TEST_SITE, Daemon
from tests.redis_server import RedisServer, redis_server

PERSONS = 100
PER_REQUEST = 500  # the batch API's limit
EVENTS = PERSONS * 2 * PER_REQUEST
# Untrimmed, 100,000 entries take ~83 MB of Redis (~830 bytes each, measured
# with redis-server 7.0); trimmed, the stream holds what the hub has not yet
# committed plus trim_keep_s worth: at the steady 8,000 events/s the edges
# forward here, 18-20 MB was the peak measured. The bound leaves room for a
# hub slowed by a busy machine.
USED_MEMORY_BOUND = 48 * 1024 * 1024
# Each edge forwards at most this fast: a steady load the hub keeps up with.
FORWARD_RATE = 4000
UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
)


def _person(i: int) -> tuple[str, str]:
    return f"198.51.100.{i + 1}", UAS[i % len(UAS)]


def _send_all(d: Daemon, errors: list[str]) -> None:
    """One request of PER_REQUEST page views per person, to this edge."""
    with web.Client(timeout=60) as c:
        for i in range(PERSONS):
            ip, ua = _person(i)
            events = [
                {"siteId": TEST_SITE, "eventType": "pageview", "path": f"/p{j % 20}"}
                for j in range(PER_REQUEST)
            ]
            r = c.post(
                f"{d.url}/api/batch",
                json={"events": events},
                headers={"X-Forwarded-For": ip, "User-Agent": ua},
            )
            if r.status_code != 202 or len(r.json()["accepted"]) != PER_REQUEST:
                errors.append(f"{r.status_code} {r.text[:200]}")
                return


def _sample_memory(rs: RedisServer, stop: threading.Event, peak: list[int]) -> None:
    r = rs.client()
    while not stop.is_set():
        peak[0] = max(peak[0], int(r.info("memory")["used_memory"]))
        time.sleep(0.05)


def test_two_edges_and_a_hub_bounded_memory_exact_counts_one_visitor(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        salts = f'max_events_per_s = {FORWARD_RATE}\n[salts]\nredis_url = "{rs.url}"\n'
        a = edge(tmp_path / "a", rs, forward_extra=salts)
        b = edge(tmp_path / "b", rs, forward_extra=salts)
        h = hub(tmp_path / "hub", rs, hub_extra="trim_keep_s = 1")
        for d in (a, b, h):
            d.start()
        stop, peak, errors = threading.Event(), [0], []
        sampler = threading.Thread(target=_sample_memory, args=(rs, stop, peak))
        senders = [threading.Thread(target=_send_all, args=(d, errors)) for d in (a, b)]
        try:
            sampler.start()
            for t in senders:
                t.start()
            for t in senders:
                t.join(timeout=120)
            assert not errors, errors
            wait_until("forwarded", lambda: forwarded_all(a) and forwarded_all(b), timeout=60)
            wait_until("hub counting", lambda: caught_up(h, EVENTS), timeout=90)
            time.sleep(0.5)
            assert counted(a) == counted(b) == EVENTS // 2
            assert counted(h) == EVENTS
            hs = h.health()["hub"]
            assert (hs["consumed_total"], hs["duplicates_total"]) == (EVENTS, 0)
            wait_until("trimmed", lambda: rs.client().xlen("analyticsd:events") < 5_000)
            stop.set()
            sampler.join(timeout=10)
            assert 0 < peak[0] < USED_MEMORY_BOUND, peak[0]
            assert h.health()["hub"]["trimmed_total"] > EVENTS - 5_000
            # Each person went through both edges: one visitor each at the hub.
            today = datetime.now(UTC).date().isoformat()
            stats = web.get(
                f"{h.url}/api/stats",
                params={"siteId": TEST_SITE, "date": today},
                headers=h.auth(),
                timeout=10,
            ).json()
            assert (stats["totalViews"], stats["uniqueUsers"]) == (EVENTS, PERSONS)
            for d in (a, b):
                wait_until(
                    "confirmed", lambda d=d: d.health()["forwarder"]["unconfirmed_events"] == 0
                )
        finally:
            stop.set()
            for d in (a, b, h):
                d.kill()
