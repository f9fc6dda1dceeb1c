"""Backfill lines (core.backfill): ingest's checks, the age limit lifted to the retention."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyticsd.core.backfill import DAY_MS, parse_lines, record, visitor_id
from analyticsd.core.buckets import day_number
from tests.core.records_fixture import ms

NOW = ms("2026-11-23T12:00:00+00:00")
EID = "8c5bd0c5-58d5-4b43-9f0c-6a3fbd8a6f10"
GOOD: dict[str, Any] = {
    "eventType": "pageview",
    "url": "https://example.com/a",
    "timestamp": "2026-10-01T10:00:00Z",
    "eventId": EID,
    "visitorId": "customer-17",
}


def one(line: dict[str, Any] | str, retention_days: int = 100) -> list[str]:
    raw = line if isinstance(line, str) else json.dumps(line)
    return parse_lines([raw.encode()], 1, "example.com", NOW, retention_days).problems


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"path": 7}, "path"),  # what ingest refuses, with ingest's message
        ({"eventId": None}, "eventId is required"),
        ({"timestamp": None}, "timestamp is required"),
        ({"visitorId": None}, "visitorId (or userId)"),
        ({"ip": "198.51.100.7"}, "no raw IP"),
        ({"userAgent": "Mozilla/5.0"}, "no raw IP or user agent"),
        ({"siteId": "other.com"}, "is not the site backfilled"),
        ({"country": "Germany"}, "ISO 3166-1"),
        ({"device": "Fridge"}, "device must be one of"),
        ({"eventType": "engagement"}, "engagement events cannot be backfilled"),
        ({"timestamp": "2026-01-01T00:00:00Z"}, "more than 100 days in the past"),
        ({"timestamp": "2026-11-24T12:00:00Z"}, "in the future"),
    ],
)
def test_a_bad_line_is_refused_with_its_reason(change: dict[str, Any], problem: str) -> None:
    line = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    problems = one(line)
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("line 1: ") for p in problems)


def test_good_lines_pass_and_name_their_numbers() -> None:
    lines = [json.dumps(GOOD).encode(), b"", b"{not json", json.dumps(GOOD).encode()]
    parsed = parse_lines(lines, 10, "example.com", NOW, 100)
    assert [p.split(":")[0] for p in parsed.problems] == ["line 12"]
    assert [e.line for e in parsed.events] == [10]
    assert parsed.repeated == 1  # line 13 repeats line 10's eventId
    assert one(GOOD) == []
    assert one({**{k: v for k, v in GOOD.items() if k != "visitorId"}, "userId": "u1"}) == []


def test_the_visitor_id_is_keyed_per_day_and_continues_a_visit_past_midnight() -> None:
    key = b"k" * 32
    late = {**GOOD, "timestamp": "2026-10-02T00:10:00Z"}
    parsed = parse_lines([json.dumps(late).encode()], 1, "example.com", NOW, 100)
    r = record(parsed.events[0], key, "UTC", NOW)
    day = day_number("2026-10-02")
    assert r.visitor == visitor_id(key, "example.com", day, "customer-17")
    assert r.prev_visitor == visitor_id(key, "example.com", day - 1, "customer-17")
    assert r.visitor != visitor_id(b"x" * 32, "example.com", day, "customer-17")
    assert "customer-17" not in repr(r)  # the client's id is not stored
    assert r.event.timestamp_ms < NOW - 7 * DAY_MS
