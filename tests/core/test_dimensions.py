"""Dimension pairs of events and visits."""

from __future__ import annotations

import pytest

from analyticsd.core.dimensions import (
    EMPTY_LABELS,
    GOAL,
    PAGE,
    PROP,
    SEP,
    SESSION_DIMS,
    SITE,
    VISITOR_CONSTANT_DIMS,
    event_pairs,
    pair,
    prop_text,
    screen_class,
    session_dims,
    split_pairs,
)
from analyticsd.core.geo import GeoInfo
from analyticsd.core.source import Source
from analyticsd.core.useragent import ClientInfo
from tests.core.records_fixture import rec


@pytest.mark.parametrize(
    ("width", "label"),
    [
        (None, ""),
        (0, ""),
        (575, "Mobile"),
        (576, "Tablet"),
        (991, "Tablet"),
        (992, "Laptop"),
        (1439, "Laptop"),
        (1440, "Desktop"),
    ],
)
def test_screen_classes(width: int | None, label: str) -> None:
    assert screen_class(width) == label


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (3, "3"), (2.5, "2.5"), ("x", "x")]
)
def test_property_values_as_text(value: object, text: str) -> None:
    assert prop_text(value) == text


@pytest.mark.parametrize(
    ("pageview", "goals", "props", "pairs"),
    [
        (True, (), {}, [(SITE, ""), (PAGE, "/a")]),
        (False, (), {}, [(SITE, "")]),  # a custom event has no page row
        (
            False,
            ("Signup",),
            {"plan": "pro"},
            [(SITE, ""), (GOAL, "Signup"), (PROP, "plan\x1fpro")],
        ),
        (True, (), {"new": True}, [(SITE, ""), (PAGE, "/a"), (PROP, "new\x1ftrue")]),
    ],
)
def test_event_pairs(
    pageview: bool, goals: tuple[str, ...], props: dict[str, object], pairs: list[object]
) -> None:
    assert event_pairs(pageview, "/a", goals, props.items()) == pairs


def test_a_landing_event_gives_its_visit_dimensions() -> None:
    r = rec(
        0,
        source=Source("Organic Search", "Google", "google.com"),
        geo=GeoInfo("DE", "DE-BE", "Berlin"),
    )
    dims = dict(zip((name for _, name in SESSION_DIMS), session_dims(r), strict=True))
    assert dims["visit:source"] == "Google"
    assert dims["visit:browser_version"] == f"Firefox{SEP}122.0"
    assert dims["visit:os_version"] == f"Windows{SEP}10"
    assert dims["visit:region"] == f"DE{SEP}DE-BE"
    assert dims["visit:city"] == f"DE{SEP}Berlin"
    assert dims["visit:screen"] == "Desktop"
    assert dims["visit:utm_source"] == ""  # no UTM: the empty value


def test_split_pairs_keep_empty_values_plausible_labels_only() -> None:
    """No UTM value or referrer is a row of its own ("(not set)", "Direct /
    None"); no region or city makes no row."""
    constant, per_visit = split_pairs(session_dims(rec(0, geo=GeoInfo("DE", "", ""))))
    assert all(dim in VISITOR_CONSTANT_DIMS for dim, _ in constant)
    assert all(dim not in VISITOR_CONSTANT_DIMS for dim, _ in per_visit)
    assert all(value or dim in EMPTY_LABELS for dim, value in (*constant, *per_visit))
    assert {(d, v) for d, v in per_visit if not v} == {(d, "") for d in (5, 6, 7, 8, 9, 10)}
    assert (17, "") not in constant  # region
    assert (18, "") not in constant  # city
    assert (15, "Desktop") in constant  # visit:device
    assert (21, "example.com") in per_visit  # visit:hostname


def test_values_of_records_enriched_before_plausibles_names_are_mapped() -> None:
    """A record spooled by an earlier version counts under this one's values."""
    old = rec(
        0,
        client=ClientInfo("Edge", "120.0", "macOS", "10.15.7", "desktop", False),
        source=Source("organic", "Google", "google.com/search/"),
    )
    dims = dict(zip((name for _, name in SESSION_DIMS), session_dims(old), strict=True))
    assert dims["visit:channel"] == "Organic Search"
    assert dims["visit:browser"] == "Microsoft Edge"
    assert dims["visit:os"] == "Mac"
    assert dims["visit:os_version"] == f"Mac{SEP}10.15"
    assert dims["visit:device"] == "Desktop"
    assert dims["visit:referrer"] == "google.com/search"


def test_equal_pairs_are_one_shared_object() -> None:
    assert pair(PAGE, "/a" + "b") is pair(PAGE, "/ab")
