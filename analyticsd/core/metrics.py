"""Counters and histograms the daemon keeps, and the Prometheus text format.

Pure: the receiver, the HTTP listener and the aggregator add to a `Metrics`
object as they go (plain integer adds on the hot path, no locks: everything
runs in the one trio thread); `exposition` renders it together with the
status report (spool, forwarder, aggregator gauges) at scrape time.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analyticsd.core.runs import KINDS, OUTCOMES, Run

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FLUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FORWARDER_STATES = ("disabled", "starting", "healthy", "unreachable", "down")


class Histogram:
    """Cumulative-bucket histogram per label value."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:  # one count per bucket, then +Inf, sum
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        s[bisect.bisect_left(self.buckets, value)] += 1
        s[-1] += value


@dataclass
class Metrics:
    events_received: int = 0
    events_acknowledged: int = 0  # stored: new events
    events_duplicate: int = 0  # acknowledged, already stored under their eventId
    events_rejected: Counter[str] = field(default_factory=Counter)  # by reason
    http_requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (route, code)
    http_latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    flush_duration: Histogram = field(default_factory=lambda: Histogram(FLUSH_BUCKETS))
    # Aggregation runs (core.runs) by (kind, outcome), and their durations by kind.
    aggregation_runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    aggregation_run_seconds: Histogram = field(default_factory=lambda: Histogram(FLUSH_BUCKETS))

    def count_run(self, run: Run) -> None:
        self.aggregation_runs[(run.kind, run.outcome)] += 1
        self.aggregation_run_seconds.observe((run.kind,), run.duration_ms / 1000)


def route_of(path: str) -> str:
    """A small fixed label set (paths are client-chosen; labels must not be)."""
    if path in ("/api/event", "/api/batch"):
        return path[5:]
    if path.startswith("/api/stats"):
        return "stats"
    if path in ("/api/health", "/metrics"):
        return path.rsplit("/", 1)[1]
    return "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if isinstance(v, float) and not v.is_integer() else str(int(v))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, text: str) -> None:
        self.lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def histogram(self, name: str, text: str, h: Histogram, label_names: tuple[str, ...]) -> None:
        self.family(name, "histogram", text)
        for labels, s in sorted(h.series.items()):
            base = list(zip(label_names, labels, strict=True))
            running = 0.0
            for bound, n in zip((*h.buckets, math.inf), s[:-1], strict=True):
                running += n
                le = "+Inf" if math.isinf(bound) else repr(bound)
                self.sample(f"{name}_bucket", running, [*base, ("le", le)])
            self.sample(f"{name}_sum", s[-1], base)
            self.sample(f"{name}_count", running, base)


def exposition(m: Metrics, report: dict[str, Any]) -> str:
    """Prometheus text format 0.0.4: the counters, then the report's gauges."""
    o = _Out()
    o.family("analyticsd_events_received_total", "counter", "Events received by the ingest API.")
    o.sample("analyticsd_events_received_total", m.events_received)
    o.family(
        "analyticsd_events_acknowledged_total", "counter", "Events stored (202) that were new."
    )
    o.sample("analyticsd_events_acknowledged_total", m.events_acknowledged)
    o.family(
        "analyticsd_events_duplicate_total",
        "counter",
        "Events acknowledged whose eventId was already stored.",
    )
    o.sample("analyticsd_events_duplicate_total", m.events_duplicate)
    o.family("analyticsd_events_rejected_total", "counter", "Events refused, by reason.")
    for reason, n in sorted(m.events_rejected.items()):
        o.sample("analyticsd_events_rejected_total", n, [("reason", reason)])
    o.family("analyticsd_http_requests_total", "counter", "HTTP responses by route and status.")
    for (route, code), n in sorted(m.http_requests.items()):
        o.sample("analyticsd_http_requests_total", n, [("route", route), ("code", code)])
    o.histogram(
        "analyticsd_http_request_duration_seconds",
        "Time from a complete request to its response.",
        m.http_latency,
        ("route",),
    )
    o.histogram(
        "analyticsd_aggregator_flush_duration_seconds",
        "Duration of aggregator flushes to SQLite.",
        m.flush_duration,
        (),
    )
    _runs(o, m)
    _report_gauges(o, report)
    return "\n".join(o.lines) + "\n"


def _runs(o: _Out, m: Metrics) -> None:
    """Every kind and outcome from the start (a 0 until it happens), so a
    rate or an alert on failures has its series before the first one."""
    name = "analyticsd_aggregation_runs_total"
    o.family(name, "counter", "Aggregation runs (flushes, prunes) by kind and outcome.")
    for kind in KINDS:
        for outcome in OUTCOMES:
            n = m.aggregation_runs[(kind, outcome)]
            o.sample(name, n, [("kind", kind), ("outcome", outcome)])
    o.histogram(
        "analyticsd_aggregation_run_seconds",
        "Duration of aggregation runs, by kind (as logged in the runs table).",
        m.aggregation_run_seconds,
        ("kind",),
    )


def _gauge(o: _Out, name: str, text: str, value: float | None) -> None:
    if value is None:
        return
    o.family(name, "gauge", text)
    o.sample(name, value)


def _report_gauges(o: _Out, r: dict[str, Any]) -> None:
    sp, ag, fw = r["spool"], r["aggregator"], r["forwarder"]
    _gauge(o, "analyticsd_spool_events", "Records in the spool.", sp["events"])
    _gauge(o, "analyticsd_spool_bytes", "Bytes of records in the spool.", sp["bytes"])
    _gauge(o, "analyticsd_spool_quota_bytes", "The spool's byte quota.", sp["quota_bytes"])
    _gauge(
        o,
        "analyticsd_spool_oldest_event_age_seconds",
        "Age of the oldest record not yet consumed by everyone.",
        sp["oldest_event_age_s"],
    )
    o.family("analyticsd_forwarder_state", "gauge", "1 for the forwarder's current state.")
    for state in FORWARDER_STATES:
        o.sample("analyticsd_forwarder_state", int(fw["state"] == state), [("state", state)])
    _gauge(
        o,
        "analyticsd_forwarder_backlog_events",
        "Events not yet forwarded to the canonical store.",
        fw["backlog_events"],
    )
    _gauge(
        o,
        "analyticsd_forwarder_lag_seconds",
        "Age of the oldest event not yet forwarded.",
        fw["oldest_unforwarded_age_s"] or (0 if fw["backlog_events"] is not None else None),
    )
    if fw.get("loss_detected_total") is not None:
        o.family(
            "analyticsd_forwarder_loss_detected_total", "counter",
            "Times the stream was found to have lost entries this edge had appended.",
        )  # fmt: skip
        o.sample("analyticsd_forwarder_loss_detected_total", fw["loss_detected_total"])
        _gauge(
            o, "analyticsd_forwarder_unconfirmed_events",
            "Forwarded events kept until the hub confirms it has committed them.",
            fw["unconfirmed_events"],
        )  # fmt: skip
    _gauge(
        o,
        "analyticsd_aggregator_lag_events",
        "Spool records not yet flushed to SQLite.",
        ag["lag_events"],
    )
    _gauge(
        o, "analyticsd_aggregator_pending_events", "Events counted in memory, not yet flushed.",
        ag["pending_events"],
    )  # fmt: skip
    _gauge(o, "analyticsd_open_visits", "Visits open in memory.", ag["open_visits"])
    if ag.get("values_folded") is not None:
        name = "analyticsd_values_folded_total"
        text = "Distinct values per day whose rows went to (other) (aggregator.max_values_per_day)."
        o.family(name, "counter", text)
        o.sample(name, ag["values_folded"])
    _gauge(
        o, "analyticsd_disk_full", "1 while a full disk refuses events or flushes.",
        int(bool(r.get("disk_full"))),
    )  # fmt: skip
    _gauge(
        o, "analyticsd_spool_refusing", "1 while the spool refuses new events (503).",
        int(bool(sp.get("refusing"))),
    )  # fmt: skip
    _gauge(
        o, "analyticsd_flush_failing", "1 while flushes to SQLite fail.",
        int(bool(ag.get("store_error"))),
    )  # fmt: skip
    _gauge(o, "analyticsd_uptime_seconds", "Seconds since the daemon started.", r["uptime_s"])
    geo = r.get("geoip") or {}
    _gauge(
        o, "analyticsd_geoip_database_age_seconds",
        "Age of the GeoIP database in use (from its build date).",
        round(geo["age_days"] * 86400) if geo.get("age_days") is not None else None,
    )  # fmt: skip
    hub = r.get("hub")
    if hub:
        for key, text in (
            ("consumed_total", "Stream entries stored as new events."),
            ("duplicates_total", "Stream entries whose eventId was already stored."),
            ("dead_lettered_total", "Stream entries moved to the dead-letter stream."),
            ("claimed_total", "Stream entries claimed from idle consumers."),
            ("trimmed_total", "Acknowledged entries trimmed from the stream."),
        ):
            name = f"analyticsd_hub_{key}"
            o.family(name, "counter", text)
            o.sample(name, hub[key])
        o.family("analyticsd_hub_healthy", "gauge", "1 while the hub reads the stream.")
        o.sample("analyticsd_hub_healthy", int(hub["state"] == "healthy"))
        _gauge(
            o, "analyticsd_hub_stream_lag_entries",
            "Stream entries not yet delivered to the hub's group (XINFO GROUPS lag).",
            hub["stream_lag"],
        )  # fmt: skip
        _gauge(
            o, "analyticsd_hub_stream_pending_entries",
            "Stream entries delivered to the hub's group, not yet acknowledged.",
            hub["stream_pending"],
        )  # fmt: skip
