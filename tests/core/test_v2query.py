"""Stats API v2 parsing and translation (core.v2query, core.v2filters): pure, no daemon."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyticsd.core.aggregate import day_number
from analyticsd.core.errors import QueryError
from analyticsd.core.query import Filter, Range
from analyticsd.core.v2answer import money, order_rows, time_labels
from analyticsd.core.v2filters import Branch, Leaf, Not, to_json
from analyticsd.core.v2plan import engine_query, entry_split, time_interval
from analyticsd.core.v2query import V2Query, date_range, decode_body, parse_v2

TODAY = day_number("2024-05-15")  # a Wednesday


def parse(body: dict[str, Any], goals: tuple[str, ...] = ("Signup",)) -> V2Query:
    full = {"site_id": "s", "date_range": "all", "metrics": ["visitors"], **body}
    return parse_v2(decode_body(json.dumps(full).encode()), "UTC", TODAY, goals, {})


def error_of(body: dict[str, Any]) -> str:
    with pytest.raises(QueryError) as e:
        parse(body)
    return e.value.message


@pytest.mark.parametrize(
    ("raw", "first", "last"),
    [
        ("day", "2024-05-15", "2024-05-15"),
        ("7d", "2024-05-08", "2024-05-14"),  # the 7 days before today, as Plausible's
        ("30d", "2024-04-15", "2024-05-14"),
        ("month", "2024-05-01", "2024-05-31"),
        ("year", "2024-01-01", "2024-12-31"),
        ("6mo", "2023-11-01", "2024-04-30"),  # whole months before this one
        (["2024-01-02", "2024-01-09"], "2024-01-02", "2024-01-09"),
        (["2024-01-02T10:00:00+02:00", "2024-01-03T00:00:00Z"], "2024-01-02", "2024-01-03"),
    ],
)
def test_date_ranges(raw: Any, first: str, last: str) -> None:
    assert date_range(raw, TODAY) == Range(day_number(first), day_number(last))


def test_all_is_resolved_later() -> None:
    assert date_range("all", TODAY) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": ["visitors", "baa"]}, '#/metrics/1: Invalid metric "baa"'),
        ({"metrics": ["visits", "visits"]}, "#/metrics: Expected items to be unique"),
        ({"metrics": []}, "#/metrics: Expected a minimum of 1 items"),
        ({"metrics": [1]}, "#/metrics/0: Expected `str`, got `int`"),
        ({"date_range": "bad"}, '#/date_range: Invalid date range "bad"'),
        ({"date_range": ["2024-01-05", "2024-01-01"]}, "ends before it starts"),
        ({"dimensions": ["badprop"]}, '#/dimensions/0: Invalid dimension "badprop"'),
        ({"dimensions": ["time:day", "time:week"]}, "Only one time dimension"),
        ({"wat": 1}, "unknown field `wat`"),
        ({"filters": [["is", "nope", ["x"]]]}, '#/filters/0: Invalid filter ["is", "nope", ["x"]]'),
        ({"filters": [["equals", "event:page", ["/"]]]}, "Unknown operator for filter"),
        ({"filters": [["is", "event:page", []]]}, "Invalid filter"),
        ({"filters": [["is", "event:page", "/"]]}, "Invalid filter"),
        ({"filters": [["matches", "event:page", ["("]]]}, "Invalid regular expression"),
        ({"filters": [["is", "visit:country", ["USA"]]]}, "2-letter country code"),
        ({"filters": [["not", ["is", "event:goal", ["Signup"]]]]}, "only be filtered at the top"),
        ({"filters": [["is", "event:goal", ["Nope"]]]}, "The goal `Nope` is not configured"),
        ({"metrics": ["conversion_rate"]}, "can only be queried with event:goal filters"),
        ({"metrics": ["bounce_rate"], "dimensions": ["event:name"]}, "Session metric(s)"),
        ({"metrics": ["views_per_visit"], "dimensions": ["visit:source"]}, "with `dimensions`"),
        ({"order_by": [["pageviews", "desc"]]}, "Entry is not a queried metric or dimension"),
        ({"order_by": [["visitors", "up"]]}, "Invalid order_by entry"),
        ({"include": {"time_labels": True}}, "requires a time dimension"),
        ({"include": {"comparisons": {}}}, "unknown field `comparisons`"),
        ({"pagination": {"limit": 0}}, "limit is 1 to 10000"),
        ({"metrics": ["exit_rate"]}, "not supported by this server yet"),
        ({"metrics": ["time_on_page"]}, "can only be queried with event:page filters or dim"),
        (
            {"metrics": ["scroll_depth"], "filters": [["not", ["is", "event:page", ["/"]]]]},
            "Metric `scroll_depth` can only be queried with event:page filters or dimensions.",
        ),
        ({"dimensions": ["time:hour"], "date_range": "year"}, "at most 31 day(s)"),
    ],
)
def test_bad_queries_are_named(body: dict[str, Any], message: str) -> None:
    assert message in error_of(body)


def test_not_json_is_named() -> None:
    with pytest.raises(QueryError, match="not valid JSON"):
        decode_body(b"{nope")


def test_deep_nesting_is_refused() -> None:
    f: Any = ["is", "event:page", ["/"]]
    for _ in range(12):
        f = ["not", f]
    assert "levels of nesting" in error_of({"filters": [f]})


def test_filter_tree_and_its_echo() -> None:
    raw = [
        ["is", "visit:source", ["Google"]],
        ["or", [["contains", "event:page", ["/en"]], ["not", ["is", "event:name", ["X"]]]]],
        ["is", "visit:utm_medium", ["social"], {"case_sensitive": False}],
    ]
    q = parse({"filters": raw})
    assert q.where == Branch(
        "all",
        (
            Leaf("is", "visit:source", ("Google",), True, "visit:source"),
            Branch(
                "or",
                (
                    Leaf("contains", "event:page", ("/en",), True, "event:page"),
                    Not(Leaf("is", "event:name", ("X",), True, "event:name")),
                ),
            ),
            Leaf("is", "visit:utm_medium", ("social",), False, "visit:utm_medium"),
        ),
    )
    assert to_json(q.where) == raw


def test_flat_filters_go_to_v1_engines_and_trees_do_not() -> None:
    r = Range(TODAY, TODAY)
    flat = engine_query(parse({"filters": [["is", "visit:source", ["Google"]]]}), r, "")
    assert flat.filters == (Filter("visit:source", False, ("Google",)),)
    assert flat.where is None
    # A * is literal in v2 but a wildcard in v1: such a filter stays a tree.
    star = engine_query(parse({"filters": [["is", "event:page", ["/a*"]]]}), r, "")
    assert star.filters == ()
    assert star.where is not None
    nocase = [["is", "event:page", ["/a"], {"case_sensitive": False}]]
    assert engine_query(parse({"filters": nocase}), r, "").where is not None


def test_dimensions_become_prop_or_several() -> None:
    r = Range(TODAY, TODAY)
    one = engine_query(parse({"dimensions": ["time:day", "event:hostname"]}), r, "date")
    assert (one.prop, one.dims, one.interval) == ("visit:hostname", (), "date")
    two = engine_query(parse({"dimensions": ["visit:os", "visit:browser"]}), r, "")
    assert (two.prop, two.dims) == ("", ("visit:os", "visit:browser"))


def test_default_order_and_time_choice() -> None:
    q = parse({"metrics": ["pageviews", "visitors"], "dimensions": ["visit:source", "time"]})
    assert q.order_by == (("time", "asc"), ("pageviews", "desc"))
    assert time_interval(q, Range(TODAY - 1, TODAY)) == "hour"
    assert time_interval(q, Range(TODAY - 39, TODAY)) == "date"
    assert time_interval(q, Range(TODAY - 40, TODAY)) == "month"


def test_page_bounce_rate_is_asked_by_entry_page() -> None:
    q = parse({"metrics": ["visitors", "bounce_rate"], "filters": [["is", "event:page", ["/a"]]]})
    split = entry_split(q)
    assert split is not None
    assert split.metrics == ("bounce_rate",)
    assert isinstance(split.where, Leaf)
    assert split.where.dim == "visit:entry_page"
    by_page = parse({"metrics": ["visit_duration", "visits"], "dimensions": ["event:page"]})
    split = entry_split(by_page)
    assert split is not None
    assert split.dimensions == ("visit:entry_page",)
    assert split.metrics == ("visit_duration",)
    assert entry_split(parse({"metrics": ["bounce_rate"]})) is None


def test_rows_are_ordered_by_each_key_in_turn() -> None:
    q = parse(
        {
            "dimensions": ["visit:os", "visit:browser"],
            "order_by": [["visitors", "asc"], ["visit:browser", "desc"]],
        }
    )
    rows = [
        {"dimensions": ["Linux", "Firefox"], "metrics": [2]},
        {"dimensions": ["Mac", "Chrome"], "metrics": [1]},
        {"dimensions": ["Windows", "Firefox"], "metrics": [1]},
    ]
    assert [r["dimensions"] for r in order_rows(q, rows)] == [
        ["Windows", "Firefox"],
        ["Mac", "Chrome"],
        ["Linux", "Firefox"],
    ]


def test_week_labels_start_with_the_range() -> None:
    # 2020-12-20 was a Sunday: the first week is cut to the range.
    r = Range(day_number("2020-12-20"), day_number("2021-01-07"))
    assert time_labels("week", r) == ["2020-12-20", "2020-12-21", "2020-12-28", "2021-01-04"]


def test_money_as_plausible_shows_it() -> None:
    assert money({"USD": [201_200_000, 3]}, average=True) == {
        "short": "$67.1",
        "long": "$67.07",
        "value": 67.066,
        "currency": "USD",
    }
    assert money({"EUR": [1_234_500_000, 1]}, average=False)["short"] == "€1.2K"  # type: ignore[index]
    assert money({"USD": [1, 1], "EUR": [1, 1]}, average=False) is None


def test_matches_runs_in_linear_time_and_honours_case() -> None:
    from analyticsd.storage.treesql import regexp

    # Exponential for a backtracking engine; RE2 answers at once.
    assert regexp("(a+)+$", "a" * 20_000 + "!") == 0
    assert regexp("^/user/[0-9]+", "/user/12/x") == 1
    assert regexp("(?i)^/EN/", "/en/page") == 1
    assert regexp("^/EN/", "/en/page") == 0
    assert regexp(None, "x") == 0
