"""The hub role against a real redis-server: dedupe across edges, recovery
after a SIGKILL, dead letters, and a Redis that keeps going away."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import threading
import time
import uuid
from pathlib import Path

from tests import web
from tests.forwarding import (
    STREAM,
    agg_rows,
    caught_up,
    counted,
    edge,
    forwarded_all,
    hub,
    send,
    traffic,
    wait_until,
    wire_entries,
    xadd_all,
)
from tests.helpers import Daemon
from tests.redis_server import RedisServer, redis_server, stream_entries

DEAD = STREAM + ":dead"


def test_two_edges_same_event_ids_counted_once(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        a, b = edge(tmp_path / "a", rs), edge(tmp_path / "b", rs)
        h = hub(tmp_path / "hub", rs)
        for d in (a, b, h):
            d.start()
        try:
            only_a, only_b, both = traffic(400, 10), traffic(300, 11), traffic(250, 12)
            ids = send(a, only_a) + send(a, both)
            ids += send(b, only_b) + send(b, both)  # the same eventIds, to the other edge
            distinct = set(ids)
            assert len(distinct) == 950
            assert len(ids) == 1200
            direct = send(h, traffic(50, 13))  # the hub takes beacons itself as well
            wait_until("both edges forwarded", lambda: forwarded_all(a) and forwarded_all(b))
            in_stream = [f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)]
            assert sorted(in_stream) == sorted(ids)  # each edge sent its own copy
            wait_until("hub counting", lambda: caught_up(h, 1000))
            time.sleep(0.5)
            assert counted(h) == 950 + len(direct)
            hs = h.health()["hub"]
            assert (hs["consumed_total"], hs["duplicates_total"]) == (950, 250)
        finally:
            for d in (a, b, h):
                d.kill()


def test_hub_killed_between_store_and_ack_recovers_exactly(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        xadd_all(rs.client(), wire_entries(2000, seed=20))
        h = hub(tmp_path / "hub", rs, hub_extra="batch_size = 100")
        try:
            # The 4th batch is stored, never acked; that may happen before the
            # hub has answered its first health check.
            with contextlib.suppress(RuntimeError):
                h.start(failpoint="hub.before_ack:4")
            assert h.proc is not None
            assert h.proc.wait(timeout=30) == -signal.SIGKILL
            pending = rs.client().xpending(STREAM, "analyticsd-hub")
            assert pending["pending"] >= 100
            h.start()
            wait_until("hub counting", lambda: caught_up(h, 2000))
            time.sleep(0.5)
            assert counted(h) == 2000
            hs = h.health()["hub"]
            assert hs["duplicates_total"] >= 100  # the unacked batch came back
            wait_until("pending list empty", lambda: _pending(rs) == 0)
        finally:
            h.kill()


def _pending(rs: RedisServer) -> int:
    return int(rs.client().xpending(STREAM, "analyticsd-hub")["pending"])


def test_hub_sigkilled_mid_consume_from_outside(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        xadd_all(rs.client(), wire_entries(20_000, seed=21))
        h = hub(tmp_path / "hub", rs, hub_extra="batch_size = 200")
        h.start()
        try:
            wait_until("some consumed", lambda: h.health()["hub"]["consumed_total"] > 0)
            h.kill()
            h.start()
            wait_until("hub counting", lambda: caught_up(h, 20_000), timeout=120)
            time.sleep(0.5)
            assert counted(h) == 20_000
            assert _pending(rs) == 0
        finally:
            h.kill()


def test_poison_entries_go_to_dead_letters_and_consuming_goes_on(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        r = rs.client()
        good = wire_entries(300, seed=30)
        unknown_site = wire_entries(1, seed=31, site="not-configured.example")
        _, valid_json = good[0]
        xadd_all(r, good[:100])
        r.xadd(STREAM, {"event_id": str(uuid.uuid4()), "event": b"{not json"})
        xadd_all(r, unknown_site)
        r.xadd(STREAM, {"event_id": str(uuid.uuid4()), "event": valid_json})  # ids differ
        r.xadd(STREAM, {"nothing": "useful"})
        xadd_all(r, good[100:200])
        h = hub(
            tmp_path / "hub",
            rs,
            hub_extra="max_deliveries = 3\nclaim_idle_s = 0.2",
        )
        h.start()
        try:
            wait_until("dead letters", lambda: r.xlen(DEAD) == 4, timeout=30)
            dead = stream_entries(r, DEAD)
            reasons = [f[b"reason"].decode() for _, f in dead]
            assert any("not a JSON object" in x or "invalid event" in x for x in reasons)
            assert any("unknown site 'not-configured.example'" in x for x in reasons)
            assert any("differ" in x for x in reasons)
            assert any("no 'event' field" in x for x in reasons)
            for _, f in dead:
                assert f[b"stream"] == STREAM.encode()
                assert int(f[b"deliveries"]) >= 3
            assert b"entry:event" in dead[0][1]  # the original is kept for replay
            xadd_all(r, good[200:])  # consuming goes on
            wait_until("good ones counted", lambda: caught_up(h, 300))
            assert counted(h) == 300
            wait_until("nothing pending", lambda: _pending(rs) == 0)
            assert h.health()["hub"]["dead_lettered_total"] == 4
            metrics = web.get(f"{h.url}/metrics", timeout=5).text
            assert "analyticsd_hub_dead_lettered_total 4" in metrics
            assert "analyticsd_hub_consumed_total 300" in metrics
            assert h.proc is not None
            assert h.proc.poll() is None
        finally:
            h.kill()


def _rss_mb(d: Daemon) -> float:
    assert d.proc is not None
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_redis_flapping_for_a_minute(tmp_path: Path) -> None:
    """Redis killed and restarted every 1-3 s for 60 s while events flow to an
    edge: nothing lost, nothing counted twice, no crash, memory bounded."""
    rs = RedisServer(tmp_path / "redis")
    rs.start()
    e = edge(tmp_path / "edge", rs)
    h = hub(tmp_path / "hub", rs, hub_extra="claim_idle_s = 2")
    e.start()
    h.start()
    stop = threading.Event()
    acked: list[str] = []
    errors: list[str] = []
    rss: list[tuple[float, float]] = []
    outages = [0]

    def flap() -> None:
        rnd = random.Random(40)
        while not stop.is_set():
            time.sleep(rnd.uniform(1.0, 3.0))
            rs.kill()
            outages[0] += 1
            time.sleep(rnd.uniform(1.0, 3.0))
            rs.start()

    def load() -> None:
        with web.Client(timeout=30) as c:
            for i, (ip, ua, events) in enumerate(traffic(100_000, seed=41)):
                if stop.is_set():
                    return
                resp = c.post(
                    f"{e.url}/api/batch",
                    json={"events": events},
                    headers={"X-Forwarded-For": ip, "User-Agent": ua},
                )
                if resp.status_code != 202:
                    errors.append(f"{resp.status_code} {resp.text}")
                    return
                acked.extend(ev["eventId"] for ev in events)
                if i % 200 == 0:
                    rss.append((_rss_mb(e), _rss_mb(h)))
                time.sleep(0.02)

    flapper = threading.Thread(target=flap)
    sender = threading.Thread(target=load)
    try:
        flapper.start()
        sender.start()
        time.sleep(60)
        stop.set()
        sender.join(timeout=30)
        flapper.join(timeout=30)
        if not rs.running:
            rs.start()
        assert not errors, errors[:3]
        assert len(acked) > 5000, len(acked)
        assert outages[0] >= 10
        wait_until("drain", lambda: forwarded_all(e), timeout=120)
        # The hub trims what it committed more than trim_keep_s ago: the
        # stream is a transport, the hub's count is what must be complete.
        ids = {f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)}
        assert ids <= set(acked)
        wait_until("hub counting", lambda: caught_up(h, len(acked)), timeout=120)
        time.sleep(0.5)
        assert counted(e) == counted(h) == len(acked)
        assert agg_rows(h) == agg_rows(e)
        for d in (e, h):
            assert d.proc is not None
            assert d.proc.poll() is None
        worst = max(max(a, b) for a, b in rss)
        assert worst < 400, rss  # bounded: the backlog waits on disk, not in memory
        print(json.dumps({"acked": len(acked), "outages": outages[0], "rss_mb": rss[-3:]}))
    finally:
        stop.set()
        e.kill()
        h.kill()
        rs.kill()


def test_restart_retries_a_failing_entry_once_not_until_dead(tmp_path: Path) -> None:
    """Walking its own pending entries after a restart, the hub tries a
    failing entry once; further tries wait for claim_idle_s."""
    with redis_server(tmp_path / "redis") as rs:
        r = rs.client()
        r.xadd(STREAM, {"event_id": str(uuid.uuid4()), "event": b"{broken"})
        xadd_all(r, wire_entries(10, seed=50))
        h = hub(tmp_path / "hub", rs, hub_extra="max_deliveries = 3\nclaim_idle_s = 600")
        h.start()
        try:
            wait_until("good ones counted", lambda: caught_up(h, 10))
            h.kill()
            h.start()
            wait_until("own pending walked", lambda: _deliveries(rs) == 2, timeout=10)
            time.sleep(1.0)
            assert _deliveries(rs) == 2
            assert r.xlen(DEAD) == 0
            assert counted(h) == 10
        finally:
            h.kill()


def _deliveries(rs: RedisServer) -> int:
    [row] = rs.client().xpending_range(STREAM, "analyticsd-hub", "-", "+", 10)
    return int(row["times_delivered"])
