"""The stream as a transport: the hub's lag in status and /metrics, replaying
dead letters, an edge on a Redis that refuses scripts, and the loss drill
(Redis restarted empty mid-stream) against real redis-servers."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
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
from tests.redis_server import redis_server, stream_entries

DEAD = STREAM + ":dead"
OTHER_SITE = "later.example"


def test_hub_lag_shows_in_status_and_metrics(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        xadd_all(rs.client(), wire_entries(10_000, seed=50))
        h = hub(tmp_path / "hub", rs, hub_extra="batch_size = 200")
        h.start()
        try:
            wait_until("lag read", lambda: h.health()["hub"]["lag_read_at"] is not None)
            first = h.health()["hub"]["stream_lag"]
            assert 0 < first <= 10_000  # read before the hub caught up
            wait_until("hub caught up", lambda: caught_up(h, 10_000), timeout=90)
            wait_until(
                "lag zero",
                lambda: (
                    (h.health()["hub"]["stream_lag"], h.health()["hub"]["stream_pending"]) == (0, 0)
                ),
            )
            metrics = web.get(f"{h.url}/metrics", timeout=5).text
            assert "analyticsd_hub_stream_lag_entries 0" in metrics
            assert "analyticsd_hub_stream_pending_entries 0" in metrics
            text = h.cli("status").stdout
            assert "stream lag 0, pending 0" in text, text
            report = json.loads(h.cli("status", "--json").stdout)
            assert report["hub"]["stream_lag"] == 0
            assert report["hub"]["consumed_total"] == 10_000
        finally:
            h.kill()


def test_replay_dead_letters_once_the_site_exists(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        r = rs.client()
        xadd_all(r, wire_entries(5, seed=51, site=OTHER_SITE))
        xadd_all(r, wire_entries(20, seed=52))
        h = hub(tmp_path / "hub", rs, hub_extra="max_deliveries = 1\nclaim_idle_s = 0.2")
        h.start()
        try:
            wait_until("dead letters", lambda: r.xlen(DEAD) == 5, timeout=30)
            wait_until("the others counted", lambda: caught_up(h, 20))
            # Without the hub role configured the command says what is missing.
            plain = tmp_path / "plain.toml"
            plain.write_text(h.config.read_text().replace("enabled = true", "enabled = false"))
            refused = subprocess.run(
                [sys.executable, "-m", "analyticsd", "replay-dead-letters", "--config", str(plain)],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert refused.returncode == 1
            assert "[hub] enabled = true" in refused.stderr
            # The operator adds the site, reloads, replays.
            h.config.write_text(h.config.read_text() + f'\n[[sites]]\nid = "{OTHER_SITE}"\n')
            h.signal(signal.SIGHUP)
            wait_until("reloaded", lambda: (h.health().get("reload") or {}).get("ok") is True)
            out = h.cli("replay-dead-letters")
            assert out.returncode == 0, out.stderr
            assert f"replayed 5 entries from {DEAD} into {STREAM}" in out.stdout
            assert r.xlen(DEAD) == 0
            wait_until("replayed ones counted", lambda: caught_up(h, 25))
            time.sleep(0.5)
            assert counted(h) == 25
            assert h.cli("replay-dead-letters").stdout.startswith("replayed 0 entries")
        finally:
            h.kill()


def test_edge_on_a_redis_that_refuses_scripts_forwards_everything(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as rs:
        rs.client().execute_command(
            "ACL", "SETUSER", "edge", "on", ">pw", "~*", "&*", "+@all", "-@scripting"
        )
        e = edge(tmp_path / "edge", rs)
        e.config.write_text(
            e.config.read_text().replace(rs.url, f"redis://edge:pw@127.0.0.1:{rs.port}/0")
        )
        h = hub(tmp_path / "hub", rs)
        for d in (e, h):
            d.start()
        try:
            acked = send(e, traffic(600, seed=53))
            wait_until("forwarded", lambda: forwarded_all(e))
            ids = [f[b"event_id"].decode() for _, f in stream_entries(rs.client(), STREAM)]
            assert sorted(ids) == sorted(acked)
            wait_until("hub counting", lambda: caught_up(h, 600))
            assert counted(h) == 600
            assert "appending with MULTI instead" in e.log()
            wait_until("confirmed", lambda: e.health()["forwarder"]["unconfirmed_events"] == 0)
        finally:
            for d in (e, h):
                d.kill()


def test_redis_restarted_empty_mid_stream_is_detected_and_repaired(tmp_path: Path) -> None:
    """The drill: Redis comes back with nothing (no persistence) while events
    flow; the edge reports the loss, forwards again what the hub had not
    confirmed, and the hub counts every acknowledged event exactly once."""
    with redis_server(tmp_path / "redis") as rs:
        e = edge(tmp_path / "edge", rs)
        h = hub(tmp_path / "hub", rs)
        for d in (e, h):
            d.start()
        acked: list[str] = []
        stop = threading.Event()

        # Requests of ~150 events: one fsync each on the edge, so the stream
        # flows for some seconds, not minutes.
        small = traffic(20_000, seed=54)
        requests = [
            (small[i][0], small[i][1], [ev for _, _, evs in small[i : i + 10] for ev in evs])
            for i in range(0, len(small), 10)
        ]

        def load() -> None:
            for request in requests:
                if stop.is_set():
                    return
                acked.extend(send(e, [request]))

        sender = threading.Thread(target=load)
        try:
            sender.start()
            wait_until("some counted at the hub", lambda: counted(h) > 1000)
            rs.kill()
            assert len(acked) < 20_000  # mid-stream: the edge is still taking events
            shutil.rmtree(rs.dir / "appendonlydir")  # nothing survives the restart
            time.sleep(0.5)  # entries acknowledged by Redis are now gone
            rs.start()
            restarted = time.monotonic()
            wait_until("loss reported", lambda: e.health()["forwarder"]["loss_detected_total"] > 0)
            detected_s = time.monotonic() - restarted
            # Reconnecting backs off up to max_backoff_s (1 s), then the first
            # append or probe interval (0.2 s) finds the mark gone.
            assert detected_s < 3.0, detected_s
            fw = e.health()["forwarder"]
            assert "the stream lost entries" in fw["last_loss"]
            assert (
                "analyticsd_forwarder_loss_detected_total 1"
                in web.get(f"{e.url}/metrics", timeout=5).text
            )
            assert "STREAM LOSS" in e.cli("status").stdout
            assert "canonical store LOSS detected" in e.log()
            sender.join(timeout=120)
            assert not sender.is_alive()
            wait_until("drain", lambda: forwarded_all(e), timeout=60)
            wait_until("hub counting", lambda: caught_up(h, len(acked)), timeout=90)
            time.sleep(0.5)
            assert counted(e) == counted(h) == len(acked) == 20_000
            assert agg_rows(h) == agg_rows(e)
            # Whether anything resent was a duplicate at the hub depends on
            # timing (did the hub's last confirmation reach the edge before
            # the wipe?): the counts above are what must hold either way.
            report = h.health()["hub"]
            assert report["consumed_total"] == 20_000, report
        finally:
            stop.set()
            sender.join(timeout=30)
            for d in (e, h):
                d.kill()


def test_unconfirmed_records_are_kept_for_the_window_only(tmp_path: Path) -> None:
    """No hub confirms anything here: forwarded records stay in the edge's
    spool for retain_unconfirmed_s, then go (the spool is far from half full)."""
    with redis_server(tmp_path / "redis") as rs:
        e = edge(tmp_path / "edge", rs, forward_extra="retain_unconfirmed_s = 2")
        e.start()
        try:
            send(e, traffic(300, seed=55))
            wait_until("forwarded", lambda: forwarded_all(e))
            kept = e.health()
            assert kept["forwarder"]["unconfirmed_events"] == 300
            assert kept["spool"]["events"] == 300  # counted locally, kept for the hub
            wait_until("window over", lambda: e.health()["spool"]["events"] == 0, timeout=20)
            assert e.health()["forwarder"]["unconfirmed_events"] == 0
            assert e.health()["forwarder"]["loss_detected_total"] == 0
        finally:
            e.kill()
