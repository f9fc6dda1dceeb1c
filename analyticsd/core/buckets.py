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
class DayAgg:
    """One site-day: counts, page views per path and the visitor ids seen."""

    counts: Counts = field(default_factory=Counts)
    paths: dict[str, int] = field(default_factory=dict)
    visitors: set[str] = field(default_factory=set)


@dataclass
class Deltas:
    """Counts accumulated since the last flush, plus the spool position they reach."""

    last_seq: int
    days: dict[tuple[str, str], DayAgg] = field(default_factory=dict)
    hours: dict[tuple[str, str], Counts] = field(default_factory=dict)
    n_events: int = 0

    def add(self, seq: int, record: EnrichedRecord, tz_name: str) -> None:
        ev = record.event
        day, hour = _labels(tz_name, ev.timestamp_ms // _QUANTUM_MS)
        day_key = (ev.site_id, day)
        agg = self.days.get(day_key)
        if agg is None:
            agg = self.days[day_key] = DayAgg()
        hour_key = (ev.site_id, hour)
        counts = self.hours.get(hour_key)
        if counts is None:
            counts = self.hours[hour_key] = Counts()
        agg.counts.events += 1
        counts.events += 1
        if ev.event_type == PAGEVIEW:
            agg.counts.pageviews += 1
            counts.pageviews += 1
            agg.paths[ev.path] = agg.paths.get(ev.path, 0) + 1
        agg.visitors.add(record.visitor)
        if seq > self.last_seq:
            self.last_seq = seq
        self.n_events += 1
