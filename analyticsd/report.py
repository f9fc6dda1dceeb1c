"""Builds the status report, from the running daemon or from a data dir at rest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analyticsd import __version__
from analyticsd.core.config import Config
from analyticsd.core.errors import AnalyticsdError
from analyticsd.core.records import received_ms_of
from analyticsd.storage.spool import Spool, SpoolStats
from analyticsd.storage.statsdb import StatsReader

SPOOL_DIR = "spool"
CONSUMERS = ("aggregator",)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Live:
    """What only a running daemon knows."""

    uptime_s: float
    events_per_s_1m: float
    accepted_total: int
    pending_events: int
    last_flush_ms: int | None
    draining: bool
    open_visits: int = 0


def build(
    data_dir: str,
    spool: SpoolStats,
    flushed_seq: int,
    now_ms: int,
    live: Live | None,
    last_flush_ms: int | None = None,
) -> dict[str, Any]:
    oldest = received_ms_of(spool.oldest_record) if spool.oldest_record else None
    head = spool.next_seq - 1
    return {
        "daemon": "running" if live else "down",
        "status": ("draining" if live.draining else "ok") if live else "down",
        "version": __version__,
        "uptime_s": round(live.uptime_s, 1) if live else None,
        "data_dir": os.path.abspath(data_dir),
        "spool": {
            "events": spool.raw_events + spool.enriched_events,
            "raw_events": spool.raw_events,
            "enriched_events": spool.enriched_events,
            "bytes": spool.size_bytes,
            "quota_bytes": spool.quota_bytes,
            "used_pct": 100.0 * spool.size_bytes / spool.quota_bytes,
            "head_seq": head,
            "oldest_event_age_s": (now_ms - oldest) / 1000 if oldest is not None else None,
        },
        "forwarder": {
            "state": "disabled",
            "since": None,
            "backlog_events": None,
            "oldest_unforwarded_age_s": None,
        },
        "aggregator": {
            "flushed_seq": flushed_seq,
            "lag_events": max(head - flushed_seq, 0),
            "pending_events": live.pending_events if live else 0,
            "open_visits": live.open_visits if live else 0,
            "last_flush": iso(live.last_flush_ms if live else last_flush_ms),
        },
        "ingest": {
            "events_per_s_1m": live.events_per_s_1m if live else None,
            "accepted_total": live.accepted_total if live else None,
        },
    }


def offline(config: Config, now_ms: int) -> dict[str, Any]:
    """Read the data dir without writing to it (the daemon is not running)."""
    data_dir = config.storage.data_dir
    spool_path = os.path.join(data_dir, SPOOL_DIR)
    if not os.path.exists(os.path.join(spool_path, "data.mdb")):
        raise AnalyticsdError(f"no spool in {os.path.abspath(data_dir)} (never started?)")
    spool = Spool(spool_path, config.storage.spool_max_bytes, CONSUMERS, readonly=True)
    try:
        stats = spool.stats()
    finally:
        spool.close()
    flushed, last_flush = 0, None
    try:
        reader = StatsReader(data_dir)
        try:
            flushed = reader.meta("last_seq") or 0
            last_flush = reader.meta("last_flush_ms")
        finally:
            reader.close()
    except AnalyticsdError:
        pass  # no SQLite file yet: nothing flushed
    return build(data_dir, stats, flushed, now_ms, None, last_flush)
