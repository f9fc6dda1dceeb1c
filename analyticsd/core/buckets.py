"""Time buckets and the aggregation deltas the aggregator keeps in memory.

Buckets are labelled in the site's timezone: a day is `YYYY-MM-DD`, an hour is
`YYYY-MM-DDTHH` (local wall-clock). Deltas are pure counters keyed by
(site, bucket[, path]); the aggregator adds them to SQLite with upserts in one
transaction together with `last_seq`, the highest spool sequence they cover.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from analyticsd.core.ingest import PAGEVIEW
from analyticsd.core.records import EnrichedRecord

# Every UTC offset in the tz database is a multiple of 15 minutes, so all
# instants inside one 15-minute quantum share the same local day and hour.
_QUANTUM_MS = 15 * 60 * 1000


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=65536)
def _labels(tz_name: str, quantum: int) -> tuple[str, str]:
    local = datetime.fromtimestamp(quantum * _QUANTUM_MS / 1000, zone(tz_name))
    return local.strftime("%Y-%m-%d"), local.strftime("%Y-%m-%dT%H")


def local_day_hour(timestamp_ms: int, tz_name: str) -> tuple[str, str]:
    """(day, hour) labels of an instant in a timezone."""
    return _labels(tz_name, timestamp_ms // _QUANTUM_MS)


@dataclass
class Counts:
    pageviews: int = 0
    events: int = 0


@dataclass
class Deltas:
    """Counts accumulated since the last flush, plus the spool position they reach."""

    last_seq: int
    days: dict[tuple[str, str], Counts] = field(default_factory=dict)
    hours: dict[tuple[str, str], Counts] = field(default_factory=dict)
    day_paths: dict[tuple[str, str, str], int] = field(default_factory=dict)
    visitors: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    n_events: int = 0

    def add(self, seq: int, record: EnrichedRecord, tz_name: str) -> None:
        ev = record.event
        day, hour = local_day_hour(ev.timestamp_ms, tz_name)
        is_view = ev.event_type == PAGEVIEW
        for counts in (
            self.days.setdefault((ev.site_id, day), Counts()),
            self.hours.setdefault((ev.site_id, hour), Counts()),
        ):
            counts.events += 1
            counts.pageviews += is_view
        if is_view:
            key = (ev.site_id, day, ev.path)
            self.day_paths[key] = self.day_paths.get(key, 0) + 1
        self.visitors.setdefault((ev.site_id, day), set()).add(record.visitor)
        self.last_seq = max(self.last_seq, seq)
        self.n_events += 1

    def empty(self) -> bool:
        return self.n_events == 0
