"""Which questions can include imported data (Plausible's rules), table-driven."""

from __future__ import annotations

import pytest

from analyticsd.core.imported_plan import GOALS, Goal, plan_imported
from analyticsd.core.plausible_export import TABLES, live_values, parse_filename
from analyticsd.core.query import Filter, Query, Range
from analyticsd.core.v2filters import Leaf

IMPORTED = [(100, 200)]
GOAL_LIST = (Goal("Signup", event="Signup"), Goal("Visit /pricing", page="/pricing"))


def q(**kw: object) -> Query:
    base: dict[str, object] = {
        "site": "s", "tz": "UTC", "range": Range(150, 160), "metrics": ("visitors",),
    }  # fmt: skip
    return Query(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "ranges", "table", "reason"),
    [
        (q(), [], "", "no_imported_data"),
        (q(range=Range(201, 210)), IMPORTED, "", "out_of_range"),
        (q(range=Range(200, 210)), IMPORTED, "imported_visitors", None),
        (q(interval="hour"), IMPORTED, "", "unsupported_interval"),
        (q(interval="minute"), IMPORTED, "", "unsupported_interval"),
        (q(interval="date"), IMPORTED, "imported_visitors", None),
        (q(prop="visit:source"), IMPORTED, "imported_sources", None),
        (
            q(prop="visit:source", filters=(Filter("visit:utm_medium", False, ("email",)),)),
            IMPORTED, "imported_sources", None,
        ),
        (
            q(prop="visit:source", filters=(Filter("visit:country", False, ("US",)),)),
            IMPORTED, "", "unsupported_query",
        ),
        (q(prop="visit:screen"), IMPORTED, "imported_devices", None),
        (q(prop="visit:city"), IMPORTED, "", "unsupported_query"),
        (q(prop="event:props:plan"), IMPORTED, "", "unsupported_query"),
        (q(prop="event:goal"), IMPORTED, GOALS, None),
        (
            q(prop="event:goal", filters=(Filter("visit:source", False, ("Google",)),)),
            IMPORTED, "", "unsupported_query",
        ),
        (q(dims=("visit:browser", "visit:browser_version")), IMPORTED, "imported_browsers", None),
        (q(dims=("visit:browser", "visit:os")), IMPORTED, "", "unsupported_query"),
        (q(where=Leaf("contains", "event:page", ("/a",))), IMPORTED, "imported_pages", None),
        (
            q(prop="event:page", where=Leaf("contains", "event:page", ("/a",))),
            IMPORTED, "imported_pages", None,
        ),
        (
            q(prop="visit:source", where=Leaf("contains", "event:page", ("/a",))),
            IMPORTED, "", "unsupported_query",
        ),
        (q(where=Leaf("is", "event:goal", ("Signup",), False)), IMPORTED, "", "unsupported_query"),
    ],
)  # fmt: skip
def test_plan(query: Query, ranges: list[tuple[int, int]], table: str, reason: str | None) -> None:
    plan = plan_imported(query, ranges, GOAL_LIST)
    assert (plan.table, plan.reason) == (table, reason)


def test_a_goal_filter_chooses_its_goals() -> None:
    plan = plan_imported(
        q(filters=(Filter("event:goal", False, ("Signup",)),)), IMPORTED, GOAL_LIST
    )
    assert plan.goals == (GOAL_LIST[0],)


def test_custom_metrics_are_not_imported() -> None:
    plan = plan_imported(q(metrics=("signups",)), IMPORTED, GOAL_LIST, frozenset({"signups"}))
    assert plan.reason == "unsupported_query"


@pytest.mark.parametrize(
    ("name", "table", "first", "last"),
    [
        ("imported_pages_20230101_20231231.csv", "imported_pages", 19358, 19722),
        ("exports/pages_20230101_20230102.csv", "imported_pages", 19358, 19359),
        ("imported_operating_systems_20230101_20230101.csv", "imported_operating_systems",
         19358, 19358),
    ],
)  # fmt: skip
def test_file_names(name: str, table: str, first: int, last: int) -> None:
    f = parse_filename(name)
    assert f is not None
    assert (f.table.name, f.first_day, f.last_day) == (table, first, last)


@pytest.mark.parametrize(
    "name",
    ["imported_pages.csv", "imported_nope_20230101_20231231.csv",
     "imported_pages_20231231_20230101.csv", "imported_pages_20230230_20230301.csv",
     "imported_pages_20230101_20231231.tsv"],
)  # fmt: skip
def test_names_that_are_no_export_file(name: str) -> None:
    assert parse_filename(name) is None


def test_values_become_live_ones() -> None:
    sources = TABLES["imported_sources"]
    assert live_values(sources, ("", "", "", "", "", "", "")) == (
        "Direct / None", "", "", "", "", "", "", "Direct",
    )  # fmt: skip
    google = live_values(sources, ("Google", "google.com", "", "", "", "", ""))
    assert google[-1] == "Organic Search"
    paid = live_values(sources, ("google", "", "google", "cpc", "brand", "", ""))
    assert paid[-1] == "Paid Search"
    devices = TABLES["imported_devices"]
    assert live_values(devices, ("Laptop",)) == ("Desktop", "Laptop")
    assert live_values(devices, ("Mobile",)) == ("Mobile", "Mobile")
    locations = TABLES["imported_locations"]
    assert live_values(locations, ("ZZ", "", "0")) == ("", "", "")
