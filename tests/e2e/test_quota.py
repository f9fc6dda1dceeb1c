"""Spool quota drill: a stalled consumer fills a tiny spool; 503 + Retry-After, never a lie."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

N_EVENTS = 400


def test_full_spool_answers_503_and_keeps_every_ack(tmp_path: Path) -> None:
    port = free_port()
    # A flush interval of an hour stalls the aggregator: its spool cursor does
    # not move, so the spool cannot free anything.
    write_config(tmp_path, port, flush_interval_s=3600, spool_max_bytes=40_000)
    d = Daemon(tmp_path / "analyticsd.toml", port)
    d.start()
    events = [
        {
            "siteId": TEST_SITE,
            "eventType": "pageview",
            "path": f"/q/{i % 7}",
            "eventId": str(uuid.uuid4()),
        }
        for i in range(N_EVENTS)
    ]
    acked: list[str] = []
    refused: list[dict[str, object]] = []
    try:
        with web.Client(timeout=10) as client:
            for ev in events:
                r = client.post(f"{d.url}/api/event", json=ev)
                if r.status_code == 202:
                    acked.append(str(ev["eventId"]))
                    continue
                assert r.status_code == 503, r.text
                assert int(r.headers["retry-after"]) > 0
                assert "quota" in r.json()["message"][0]
                refused.append(ev)
        assert acked, "nothing was accepted"
        assert refused, "the quota never filled"
        health = d.health()
        assert health["spool"]["bytes"] <= health["spool"]["quota_bytes"]
        assert d.stop() == 0

        # The consumer resumes.
        write_config(tmp_path, port, flush_interval_s=0.1, spool_max_bytes=40_000)
        d.start()
        d.wait_caught_up()
        today = datetime.now(UTC).date().isoformat()
        assert d.stats(today).json()["totalViews"] == len(acked)
        # Space is free again: the refused events now go in.
        with web.Client(timeout=10) as client:
            for ev in refused:
                for _ in range(100):  # space frees in flush-sized steps
                    r = client.post(f"{d.url}/api/event", json=ev)
                    if r.status_code != 503:
                        break
                    time.sleep(0.05)
                assert r.status_code == 202, r.text
        d.wait_caught_up()
        assert d.stats(today).json()["totalViews"] == N_EVENTS
    finally:
        d.kill()
