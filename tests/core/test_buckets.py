from __future__ import annotations

from datetime import datetime

import pytest

from analyticsd.core.buckets import Deltas, local_day_hour
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.records import SCHEMA_VERSION, EnrichedRecord


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize(
    ("instant", "tz", "day", "hour"),
    [
        ("2026-11-23T23:30:00+00:00", "UTC", "2026-11-23", "2026-11-23T23"),
        ("2026-11-23T23:30:00+00:00", "Europe/Berlin", "2026-11-24", "2026-11-24T00"),
        ("2026-11-23T03:00:00+00:00", "America/New_York", "2026-11-22", "2026-11-22T22"),
        ("2026-11-23T18:29:00+00:00", "Asia/Kolkata", "2026-11-23", "2026-11-23T23"),
        ("2026-11-23T18:30:00+00:00", "Asia/Kolkata", "2026-11-24", "2026-11-24T00"),
        ("2026-03-29T00:59:59+00:00", "Europe/Berlin", "2026-03-29", "2026-03-29T01"),
        ("2026-03-29T01:00:00+00:00", "Europe/Berlin", "2026-03-29", "2026-03-29T03"),
        ("2026-11-23T10:14:00+00:00", "Asia/Kathmandu", "2026-11-23", "2026-11-23T15"),
        ("2026-11-23T10:15:00+00:00", "Asia/Kathmandu", "2026-11-23", "2026-11-23T16"),
    ],
)
def test_local_labels(instant: str, tz: str, day: str, hour: str) -> None:
    assert local_day_hour(ms(instant), tz) == (day, hour)


def rec(site: str, path: str, visitor: str, ts: int, kind: str = "pageview") -> EnrichedRecord:
    ev = IncomingEvent(
        site_id=site,
        event_type=kind,
        path=path,
        hostname="",
        timestamp_ms=ts,
        event_id=None,
        referrer="",
        props={},
        revenue_amount=None,
        revenue_currency=None,
        session_id=None,
        user_id=None,
        screen_width=None,
        utm={},
    )
    return EnrichedRecord(v=SCHEMA_VERSION, event_id="e", received_ms=ts, visitor=visitor, event=ev)


def test_deltas_count_views_paths_visitors() -> None:
    d = Deltas(last_seq=10)
    t = ms("2026-11-23T10:00:00+00:00")
    d.add(11, rec("s", "/a", "v1", t), "UTC")
    d.add(12, rec("s", "/a", "v1", t + 1000), "UTC")
    d.add(13, rec("s", "/b", "v2", t + 3_600_000), "UTC")
    d.add(14, rec("s", "/b", "v2", t, kind="Signup"), "UTC")
    assert d.last_seq == 14
    assert d.n_events == 4
    day = d.days[("s", "2026-11-23")]
    assert (day.counts.pageviews, day.counts.events) == (3, 4)
    assert d.hours[("s", "2026-11-23T10")].pageviews == 2
    assert d.hours[("s", "2026-11-23T11")].pageviews == 1
    assert day.paths == {"/a": 2, "/b": 1}
    assert day.visitors == {"v1", "v2"}
