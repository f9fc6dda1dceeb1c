"""Stats API v1's Plausible rules (pure): comparisons, goal checks, JSON
filters, default intervals."""

from __future__ import annotations

import pytest

from analyticsd.core.errors import QueryError
from analyticsd.core.query import default_interval, parse_filters, parse_query
from analyticsd.core.v1_rules import change, check_goals, group_conversion_rate, json_filters
from analyticsd.core.v2filters import Leaf


@pytest.mark.parametrize(
    ("metric", "current", "previous", "want"),
    [
        ("visitors", 3, 1, 200),
        ("visitors", 1, 0, 100),  # from nothing to something: 100, not null
        ("visitors", 0, 0, 0),
        ("visitors", 1, 3, -67),
        ("visitors", 5, 2, 150),
        ("visitors", 21, 8, 163),  # 162.5 rounds away from zero (Python's round says 162)
        ("bounce_rate", 50, 100, -50),  # points
        ("bounce_rate", 100, 0, None),  # no previous rate
        ("conversion_rate", 50.0, 33.33, 16.7),
        ("visit_duration", None, 3, None),
    ],
)
def test_change_is_plausibles(metric: str, current: float, previous: float, want: object) -> None:
    assert change(metric, current, previous) == want


def test_goal_filters_must_name_configured_goals() -> None:
    goals = ("Signup", "Visit /blog**")
    check_goals(("Signup", "Visit /blog**"), goals)
    with pytest.raises(QueryError, match="The goal `Register` is not configured"):
        check_goals(("Signup", "Register"), goals)
    with pytest.raises(QueryError, match="pageview goal for the pathname `/register`"):
        check_goals(("Visit /register",), goals)
    with pytest.raises(QueryError, match="The goal `Register`"):
        parse_filters("event:goal==Register", goals)
    assert parse_filters("event:goal==Register") != ()  # without goals: not checked


def test_pipes_can_be_escaped() -> None:
    (f,) = parse_filters("event:page==**post\\|1|/other")
    assert f.values == ("**post|1", "/other")


def test_json_filters_become_a_tree() -> None:
    tree = json_filters('[["matches_wildcard", "event:props:tier", ["small*"]]]', ())
    assert isinstance(tree, Leaf)
    assert (tree.op, tree.values) == ("matches", ("^small.*$",))
    for bad in ("[1,", "[[[1]]]", '[{"a": 1}]', '[["is", "event:page"]]'):
        with pytest.raises(QueryError):
            json_filters(bad, ())
    with pytest.raises(QueryError, match="The goal `X`"):
        json_filters('[["is", "event:goal", ["X"]]]', ())


@pytest.mark.parametrize(
    ("period", "want"),
    [("day", "hour"), ("custom", "date"), ("7d", "date"), ("month", "date"), ("6mo", "month")],
)
def test_default_intervals_are_plausibles(period: str, want: str) -> None:
    assert default_interval(period) == want


def test_aggregates_ignore_property_and_day_is_date() -> None:
    q = parse_query("aggregate", {"site_id": "s", "property": "visit:source"}, "UTC", 20000, {})
    assert q.prop == ""
    q = parse_query("timeseries", {"site_id": "s", "interval": "day"}, "UTC", 20000, {})
    assert q.interval == "date"
    q = parse_query(
        "timeseries", {"site_id": "s", "period": "custom", "date": "2026-01-01,2026-01-01"},
        "UTC", 20000, {},
    )  # fmt: skip
    assert q.interval == "date"  # one day of a custom range is one daily point


def test_group_conversion_rate_has_one_decimal() -> None:
    """Plausible's v1 breakdown rows: 2 of 3 visitors is 66.7, halves up."""
    assert group_conversion_rate(2, 3) == 66.7
    assert group_conversion_rate(1, 2) == 50
    assert group_conversion_rate(1, 16) == 6.3  # 6.25
    assert group_conversion_rate(0, 0) == 0
