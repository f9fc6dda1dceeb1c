from __future__ import annotations

from analyticsd.core.visitor import (
    DAY_MS,
    SESSION_GAP_MS,
    RecentVisitors,
    salt_day,
    salts_to_keep,
    visitor_id,
)


def test_visitor_id_is_keyed_and_stable() -> None:
    a = visitor_id(b"s" * 32, "site", "203.0.113.5", "UA")
    assert a == visitor_id(b"s" * 32, "site", "203.0.113.5", "UA")
    assert len(a) == 16
    assert a != visitor_id(b"t" * 32, "site", "203.0.113.5", "UA")  # another day
    assert a != visitor_id(b"s" * 32, "site2", "203.0.113.5", "UA")  # another site
    assert a != visitor_id(b"s" * 32, "site", "203.0.113.6", "UA")
    assert a != visitor_id(b"s" * 32, "site", "203.0.113.5", "UA2")
    assert "203.0.113.5" not in a


def test_salt_days() -> None:
    assert salt_day(0) == 0
    assert salt_day(DAY_MS - 1) == 0
    assert salt_day(DAY_MS) == 1
    assert salts_to_keep(10) == {9, 10}


def test_visit_survives_midnight_salt_change() -> None:
    rv = RecentVisitors()
    midnight = 20 * DAY_MS
    assert rv.resolve("old-id", None, midnight - 60_000) == "old-id"
    # After midnight the same person hashes to "new-id"; "old-id" was active.
    assert rv.resolve("new-id", "old-id", midnight + 60_000) == "old-id"
    # ...and keeps the old id for the rest of that visit.
    assert rv.resolve("new-id", "old-id", midnight + 120_000) == "old-id"


def test_no_carry_over_after_the_session_gap() -> None:
    rv = RecentVisitors()
    rv.resolve("old-id", None, 0)
    assert rv.resolve("new-id", "old-id", SESSION_GAP_MS + 1) == "new-id"


def test_exactly_thirty_minutes_still_continues() -> None:
    rv = RecentVisitors()
    rv.resolve("old-id", None, 0)
    assert rv.resolve("new-id", "old-id", SESSION_GAP_MS) == "old-id"


def test_bounded() -> None:
    rv = RecentVisitors(max_entries=10)
    for i in range(100):
        rv.resolve(f"v{i}", None, i)
    assert rv.resolve("x", "v0", 100) == "x"  # v0 was forgotten
    assert rv.resolve("y", "v99", 100) == "v99"
