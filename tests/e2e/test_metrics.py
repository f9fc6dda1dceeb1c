"""GET /metrics: Prometheus text that the reference parser reads, and
counters that move exactly as traffic flows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from tests import web
from tests.helpers import TEST_SITE, Daemon


def _scrape(d: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = web.get(f"{d.url}/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def _event(**extra: object) -> dict[str, object]:
    return {
        "siteId": TEST_SITE,
        "eventType": "pageview",
        "path": "/m",
        "timestamp": datetime.now(UTC).isoformat(),
        **extra,
    }


def test_metrics_parse_and_counters_move(daemon: Daemon) -> None:
    before = _scrape(daemon)
    assert before["analyticsd_forwarder_state", (("state", "disabled"),)] == 1
    assert before["analyticsd_spool_quota_bytes", ()] > 0
    eid = str(uuid.uuid4())
    with web.Client(base_url=daemon.url, timeout=5) as c:
        assert c.post("/api/event", json=_event(eventId=eid)).status_code == 202
        assert c.post("/api/event", json=_event(eventId=eid)).status_code == 202  # duplicate
        assert c.post("/api/event", json=_event(siteId="nope.example")).status_code == 403
        assert (
            c.post(
                "/api/event", content=b"{oops", headers={"content-type": "text/plain"}
            ).status_code
            == 400
        )
        batch = {"events": [_event(), _event(), _event(path=5)]}
        assert c.post("/api/batch", json=batch).status_code == 202
    daemon.wait_caught_up()
    after = _scrape(daemon)

    def moved(name: str, *labels: tuple[str, str]) -> float:
        key = (name, tuple(sorted(labels)))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("analyticsd_events_received_total") == 7
    assert moved("analyticsd_events_acknowledged_total") == 3
    assert moved("analyticsd_events_duplicate_total") == 1
    assert moved("analyticsd_events_rejected_total", ("reason", "unknown_site")) == 1
    assert moved("analyticsd_events_rejected_total", ("reason", "invalid")) == 2
    assert moved("analyticsd_http_requests_total", ("code", "202"), ("route", "event")) == 2
    assert moved("analyticsd_http_requests_total", ("code", "403"), ("route", "event")) == 1
    assert moved("analyticsd_http_request_duration_seconds_count", ("route", "event")) == 4
    assert moved("analyticsd_http_request_duration_seconds_count", ("route", "batch")) == 1
    assert (
        after[
            "analyticsd_http_request_duration_seconds_bucket", (("le", "+Inf"), ("route", "batch"))
        ]
        >= 1
    )
    assert after["analyticsd_aggregator_flush_duration_seconds_count", ()] >= 1
    assert after["analyticsd_aggregator_lag_events", ()] == 0
    assert after["analyticsd_spool_events", ()] == 0
    # The daemon's log is structured: one logfmt record per line.
    lines = daemon.log().splitlines()
    assert lines
    assert all(line.startswith("ts=") and " level=" in line for line in lines)
