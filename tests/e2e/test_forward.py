"""Edge → Redis stream → hub, through real daemons and a real redis-server.

Redis outages are real too: the server is killed (SIGKILL) and started again
on the same port and AOF directory.
"""

from __future__ import annotations

import json
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from analyticsd.core import stream_entry
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
)
from tests.helpers import Daemon
from tests.redis_server import RedisServer, redis_server, stream_entries


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _stats(d: Daemon) -> dict[str, object]:
    r = d.stats(_today())
    assert r.status_code == 200, r.text
    data: dict[str, object] = r.json()
    return data


def test_normal_path_stream_order_and_hub_equals_edge(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        e = edge(tmp_path / "edge", rs)
        e.start()
        try:
            acked = send(e, traffic(1000, seed=1))
            assert len(acked) == 1000
            wait_until("forwarding", lambda: forwarded_all(e))
            entries = stream_entries(rs.client(), STREAM)
            ids = [f[b"event_id"].decode() for _, f in entries]
            # Spool order is the order the edge accepted them: ours.
            assert ids == acked
            assert len(set(ids)) == 1000
            for _, fields in entries[:50]:
                ev = json.loads(fields[b"event"])
                assert ev["v"] == 2
                assert ev["event_id"] == fields[b"event_id"].decode()
            wait_until("edge counting", lambda: caught_up(e, 1000))
            h = hub(tmp_path / "hub", rs)
            h.start()
            try:
                wait_until("hub counting", lambda: caught_up(h, 1000))
                assert counted(h) == counted(e) == 1000
                assert _stats(h) == _stats(e)
                # Not only the API: every stored aggregate row is the same.
                assert agg_rows(h) == agg_rows(e)
                assert h.health()["hub"]["consumed_total"] == 1000
            finally:
                h.kill()
        finally:
            e.kill()


def _status(d: Daemon) -> dict[str, object]:
    out = d.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = json.loads(out.stdout)
    return data


@pytest.mark.parametrize("kill_during_drain", [False, True], ids=["steady", "sigkill-in-drain"])
def test_outage_backlog_drains_and_hub_counts_once(tmp_path: Path, kill_during_drain: bool) -> None:
    rs = RedisServer(tmp_path / "redis")
    rs.start()
    # Slow drain in the kill variant, so the SIGKILL lands in the middle of it.
    rate = "max_events_per_s = 1500" if kill_during_drain else ""
    e = edge(tmp_path / "edge", rs, forward_extra=rate)
    e.start()
    try:
        before = send(e, traffic(200, seed=2))
        wait_until("forwarding", lambda: forwarded_all(e))
        rs.kill()
        during = send(e, traffic(5000, seed=3))  # every one answered 202
        wait_until(
            "unreachable", lambda: e.health()["forwarder"]["state"] == "unreachable", timeout=10
        )
        st = _status(e)
        fw = st["forwarder"]
        assert isinstance(fw, dict)
        assert fw["state"] == "unreachable"
        assert fw["since"]
        assert fw["backlog_events"] == 5000
        assert fw["oldest_unforwarded_age_s"] is not None
        text = e.cli("status").stdout
        assert "forwarder:    unreachable since" in text
        assert "backlog 5000 events" in text
        rs.start()  # same port, same AOF: everything forwarded before is there
        if kill_during_drain:
            wait_until(
                "part of the drain",
                # forwarded since the restart = 5,000 - backlog
                lambda: 0 < 5000 - e.health()["forwarder"]["backlog_events"] < 4000,
                timeout=20,
            )
            e.kill()
            e.start()
        wait_until("drain", lambda: forwarded_all(e), timeout=60)
        ids = [f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)]
        assert set(ids) == set(before + during)
        if not kill_during_drain:
            assert len(ids) == 5200  # no outage of the edge: nothing sent twice
        wait_until("edge counting", lambda: caught_up(e, 5200))
        h = hub(tmp_path / "hub", rs)
        h.start()
        try:
            wait_until("hub counting", lambda: caught_up(h, 5200))
            time.sleep(0.5)  # a second copy, if there were one, would be counted by now
            assert counted(h) == counted(e) == 5200
            assert agg_rows(h) == agg_rows(e)
            hs = h.health()["hub"]
            assert hs["consumed_total"] == 5200
            assert hs["duplicates_total"] == len(ids) - 5200
        finally:
            h.kill()
    finally:
        e.kill()
        rs.kill()


def test_resend_after_crash_between_xadd_and_cursor_is_deduped(tmp_path: Path) -> None:
    """Killed after a batch reached Redis but before the cursor moved: the batch
    goes out again, and the hub counts it once."""
    with redis_server(tmp_path / "redis") as rs:
        e = edge(tmp_path / "edge", rs, forward_extra="batch_size = 100")
        h = hub(tmp_path / "hub", rs)
        try:
            e.start(failpoint="forward.after_send:3")
            requests = traffic(600, seed=4)
            done = 0
            for batch in requests:
                try:
                    send(e, [batch])
                except httpx.HTTPError:
                    break  # the daemon died under us, as planned
                done += 1
            assert e.proc is not None
            assert e.proc.wait(timeout=20) == -signal.SIGKILL
            e.start()
            # As a client would: everything not confirmed is sent again (a
            # request whose answer was lost in the kill is a duplicate now).
            send(e, requests[done:])
            sent = [ev["eventId"] for _, _, events in requests for ev in events]
            wait_until("forwarding", lambda: forwarded_all(e))
            ids = [f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)]
            assert set(ids) == set(sent)
            # The batch in flight at the kill is found by the edge's mark in
            # Redis and not appended again when the new batch ends where it
            # did; one that reaches further goes out whole (dupes included).
            assert len(ids) >= len(sent)
            h.start()
            wait_until("hub counting", lambda: caught_up(h, len(sent)))
            assert counted(h) == len(sent)
            assert h.health()["hub"]["duplicates_total"] == len(ids) - len(sent)
        finally:
            h.kill()
            e.kill()


def test_forwarded_entry_holds_no_ip_or_user_agent(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        e = edge(tmp_path / "edge", rs)
        e.start()
        try:
            reqs = traffic(300, seed=5)
            send(e, reqs)
            wait_until("forwarding", lambda: forwarded_all(e))
            blob = b"".join(f[b"event"] for _, f in stream_entries(rs.client(), STREAM))
            for ip, ua, _ in reqs:
                assert ip.encode() not in blob
                assert ua.encode() not in blob
            # What is kept of a UA: browser and OS names and versions, device.
            assert re.search(rb'"browser":"(Firefox|Mobile Safari)"', blob)
            for _, fields in stream_entries(rs.client(), STREAM):
                stream_entry.decode(fields, frozenset({"test_site"}))  # the hub can read it
        finally:
            e.kill()


def test_spool_keeps_unforwarded_records_and_status_reports_them_when_down(
    tmp_path: Path,
) -> None:
    rs = RedisServer(tmp_path / "redis")  # never started: the store is down throughout
    e = edge(tmp_path / "edge", rs)
    e.start()
    try:
        send(e, traffic(300, seed=6))
        wait_until("counted locally", lambda: caught_up(e, 300))
        h = e.health()
        # Counted by the aggregator, yet kept: the forwarder is not past them.
        assert h["spool"]["events"] == 300
        assert h["forwarder"]["state"] == "unreachable"
        assert "ConnectionError" in h["forwarder"]["last_error"]
        metrics = web.get(f"{e.url}/metrics", timeout=5).text
        assert 'analyticsd_forwarder_state{state="unreachable"} 1' in metrics
        assert "analyticsd_forwarder_backlog_events 300" in metrics
        assert e.stop() == 0
        out = e.cli("status", "--json")
        assert out.returncode == 3
        report = json.loads(out.stdout)
        assert report["forwarder"]["state"] == "down"
        assert report["forwarder"]["backlog_events"] == 300
        assert report["forwarder"]["oldest_unforwarded_age_s"] >= 0
        assert "backlog 300 events" in e.cli("status").stdout
    finally:
        e.kill()


def test_tls_and_password(tmp_path: Path) -> None:
    """rediss:// with a password, end to end; a wrong password is an outage
    that says why."""
    rs = RedisServer(tmp_path / "redis", password="s3cret-pw", tls=True)
    rs.start()
    e = edge(tmp_path / "edge", rs)
    wrong = RedisServer(tmp_path / "redis", port=rs.port, password="wrong", tls=True)
    bad = edge(tmp_path / "bad-edge", wrong)
    h = hub(tmp_path / "hub", rs)
    for d in (e, bad, h):
        d.start()
    try:
        ids = send(e, traffic(200, seed=7))
        wait_until("forwarding over TLS", lambda: forwarded_all(e))
        wait_until("hub counting", lambda: caught_up(h, 200))
        assert counted(h) == 200
        in_stream = {f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)}
        assert in_stream == set(ids)
        send(bad, traffic(20, seed=8))
        fw = bad.health()["forwarder"]
        assert fw["state"] == "unreachable"
        assert "Authentication" in fw["last_error"] or "WRONGPASS" in fw["last_error"]
        assert fw["backlog_events"] == 20
        assert "s3cret-pw" not in e.log() + bad.log() + h.log()
    finally:
        for d in (e, bad, h):
            d.kill()
        rs.kill()


def test_outage_longer_than_the_quota_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    rs = RedisServer(tmp_path / "redis")  # down from the start
    e = edge(tmp_path / "edge", rs, spool_max_bytes=300_000)
    e.start()
    try:
        acked: list[str] = []
        refused = 0
        with web.Client(timeout=30) as c:
            for ip, ua, events in traffic(20_000, seed=9):
                r = c.post(
                    f"{e.url}/api/batch",
                    json={"events": events},
                    headers={"X-Forwarded-For": ip, "User-Agent": ua},
                )
                if r.status_code == 503:
                    assert "quota" in r.text
                    assert r.headers["Retry-After"]
                    refused += 1
                    if refused >= 5:
                        break
                    continue
                assert r.status_code == 202, r.text
                acked += [ev["eventId"] for ev in events]
        assert refused == 5  # the quota, not the traffic, ended the loop
        assert 0 < len(acked) < 20_000
        wait_until("counted locally", lambda: caught_up(e, len(acked)))
        assert e.health()["forwarder"]["backlog_events"] == len(acked)
        rs.start()
        wait_until("drain", lambda: forwarded_all(e))
        ids = [f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)]
        assert sorted(ids) == sorted(acked)
        # Forwarded and counted: freed, but for what waits for a hub's
        # confirmation (no hub here), which gives way above half the quota.
        wait_until(
            "retained records let go",
            lambda: e.health()["spool"]["bytes"] <= e.health()["spool"]["quota_bytes"] // 2,
        )
        assert len(send(e, traffic(100, seed=10))) == 100  # accepting again
    finally:
        e.kill()
        rs.kill()
