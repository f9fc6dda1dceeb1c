"""Stats API parameter parsing, periods and local-time SQL (pure parts)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from analyticsd.core.aggregate import (
    DAY,
    MONTH,
    WEEK,
    buckets,
    day_label,
    day_number,
    month_first_day,
    month_of,
    week_first_day,
    week_of,
)
from analyticsd.core.answers import percentile
from analyticsd.core.config import ConfigError, parse_toml
from analyticsd.core.errors import QueryError, QueryTimeout
from analyticsd.core.plan import (
    engagement_page,
    fold,
    rollup_buckets,
    rollup_dim,
    without_engagement,
)
from analyticsd.core.query import (
    Filter,
    Range,
    parse_filters,
    parse_query,
    period_range,
    previous_range,
)
from analyticsd.storage.localtime import bucket_sql, local_sql, offset_steps
from analyticsd.storage.queries import QueryEngine

TODAY = day_number("2026-11-23")


def r(a: str, b: str) -> Range:
    return Range(day_number(a), day_number(b))


@pytest.mark.parametrize(
    ("period", "date", "want"),
    [
        ("day", "", r("2026-11-23", "2026-11-23")),
        ("day", "2026-02-03", r("2026-02-03", "2026-02-03")),
        # Plausible's: the whole days before the anchor, not the anchor.
        ("7d", "", r("2026-11-16", "2026-11-22")),
        ("7d", "2021-01-08", r("2021-01-01", "2021-01-07")),
        ("30d", "", r("2026-10-24", "2026-11-22")),
        ("month", "", r("2026-11-01", "2026-11-30")),
        ("month", "2024-02-10", r("2024-02-01", "2024-02-29")),
        ("6mo", "", r("2026-06-01", "2026-11-30")),
        ("12mo", "", r("2025-12-01", "2026-11-30")),
        ("year", "", r("2026-01-01", "2026-12-31")),
        ("custom", "2026-01-05,2026-01-09", r("2026-01-05", "2026-01-09")),
    ],
)
def test_periods(period: str, date: str, want: Range) -> None:
    assert period_range(period, date, TODAY) == want


def test_previous_periods() -> None:
    assert previous_range(r("2026-11-17", "2026-11-23"), "7d") == r("2026-11-10", "2026-11-16")
    assert previous_range(r("2026-03-01", "2026-03-31"), "month") == r("2026-02-01", "2026-02-28")
    assert previous_range(r("2026-06-01", "2026-11-30"), "6mo") == r("2025-12-01", "2026-05-31")


def test_filters_parse_and_normalise() -> None:
    a = parse_filters("visit:source==Google|Bing;event:page!=/a")
    b = parse_filters(" event:page!=/a ; visit:source==Google|Bing ")
    assert (
        a
        == b
        == (Filter("event:page", True, ("/a",)), Filter("visit:source", False, ("Google", "Bing")))
    )
    assert parse_filters("event:props:plan==pro")[0].simple


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("visit:source=Google", "expected PROPERTY==VALUE"),
        ("visit:colour==red", "Invalid filter property 'visit:colour'"),
        ("visit:source==", "non-empty"),
        ("event:goal!=Signup", "== only"),
        ("visit:os==a;visit:os==b", "once"),
    ],
)
def test_bad_filters(text: str, says: str) -> None:
    with pytest.raises(QueryError, match=says) as e:
        parse_filters(text)
    assert e.value.param == "filters"


def test_same_question_same_query() -> None:
    a = parse_query(
        "aggregate", {"site_id": "s", "metrics": "visitors,pageviews"}, "UTC", TODAY, {}
    )
    b = parse_query(
        "aggregate",
        {"site_id": "s", "period": "30d", "metrics": "visitors,pageviews"},
        "UTC",
        TODAY,
        {},
    )
    assert a == b
    assert hash(a) == hash(b)


def test_engine_choice() -> None:
    def plan(**args: str) -> object:
        endpoint = "breakdown" if "property" in args else "aggregate"
        return rollup_dim(parse_query(endpoint, {"site_id": "s", **args}, "UTC", TODAY, {}))

    assert plan(metrics="visitors,bounce_rate") == (None, None)
    assert plan(property="visit:source", metrics="bounce_rate") is not None
    assert plan(property="visit:source", filters="visit:source==Google") is not None
    assert plan(filters="visit:source==Google|Bing") is None  # alternatives: per-event rows
    assert plan(filters="visit:source!=Google") is None
    assert plan(property="event:page", metrics="bounce_rate") is None  # visits of a page
    assert plan(property="visit:entry_page", metrics="visitors") is None
    assert plan(property="event:page", filters="visit:device==mobile") is None


@pytest.mark.parametrize(
    "tz", ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
)
def test_local_time_sql_matches_python_buckets(tz: str) -> None:
    """The SQL bucket of an instant equals core.aggregate's, across DST changes."""
    start, end = 1_774_000_000_000, 1_774_000_000_000 + 400 * 86_400_000  # 2026-03 .. 2027-04
    steps = offset_steps(tz, start, end)
    db = sqlite3.connect(":memory:")
    local = local_sql("?1", steps)
    hour_sql, day_sql = bucket_sql(local, "hour"), bucket_sql(local, "day")
    for ts in range(start, end, 1_234_567):  # every ~20 minutes
        h, d = db.execute(f"SELECT {hour_sql}, {day_sql}", (ts,)).fetchone()
        assert (h, d) == buckets(ts, tz), ts


def test_custom_metrics_and_funnels_validated_at_load() -> None:
    base = '[[sites]]\nid = "s"\n'
    ok = parse_toml(base + '[[metrics]]\nname = "signups"\ntype = "count"\nevent = "Signup"\n')
    assert ok.metrics[0].name == "signups"
    bad = {
        '[[metrics]]\nname = "visitors"\ntype = "count"\n': "metrics[0].name",
        '[[metrics]]\nname = "x"\ntype = "median"\n': "metrics[0].type",
        '[[metrics]]\nname = "x"\ntype = "sum"\n': "metrics[0].field",
        '[[metrics]]\nname = "x"\ntype = "ratio"\nnumerator = "y"\n'
        'denominator = "visitors"\n': "numerator",
        '[[metrics]]\nname = "x"\ntype = "distinct"\nof = "ip"\n': "metrics[0].of",
    }
    for text, key in bad.items():
        with pytest.raises(ConfigError, match=re.escape(key)):
            parse_toml(base + text)  # validates
    funnel = '[[sites.funnels]]\nname = "f"\nsteps = [{page = "/"}]\n'
    with pytest.raises(ConfigError, match="2 to 20 steps"):
        parse_toml(base + funnel)


def test_a_question_past_its_time_limit_is_interrupted() -> None:
    engine = QueryEngine(sqlite3.connect(":memory:"), time_limit_s=0.05)
    engine.start()
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
        "SELECT count(*) FROM c"
    )
    with pytest.raises(QueryTimeout, match="longer than"):
        engine._rows(endless, [])
    engine.start()  # the connection is usable for the next question
    assert engine._rows("SELECT 1", []) == [(1,)]


def test_a_year_reads_whole_months_then_whole_weeks_then_days() -> None:
    year = r("2025-11-24", "2026-11-23")  # a Monday to a Monday
    parts = dict(rollup_buckets(year, "none"))
    first, last = month_of(day_number("2025-12-01")), month_of(day_number("2026-10-01"))
    assert parts[MONTH] == list(range(first, last + 1))
    # 24-30 Nov 2025; 2-8, 9-15, 16-22 Nov 2026
    assert [day_label(week_first_day(w)) for w in parts[WEEK]] == [
        "2025-11-24", "2026-11-02", "2026-11-09", "2026-11-16",
    ]  # fmt: skip
    assert [day_label(d) for d in parts[DAY]] == ["2026-11-01", "2026-11-23"]
    month_days = sum(month_first_day(m + 1) - month_first_day(m) for m in parts[MONTH])
    assert month_days + 7 * len(parts[WEEK]) + len(parts[DAY]) == year.days == 365


def test_thirty_days_read_weeks_and_points_fold_correctly() -> None:
    thirty = r("2026-10-25", "2026-11-23")  # a Sunday to a Monday
    parts = dict(rollup_buckets(thirty, "none"))
    assert MONTH not in parts
    assert [day_label(week_first_day(w)) for w in parts[WEEK]] == [
        "2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16",
    ]  # fmt: skip
    assert [day_label(d) for d in parts[DAY]] == ["2026-10-25", "2026-11-23"]
    # A month series takes only weeks inside one month (26 Oct - 1 Nov is not).
    monthly = dict(rollup_buckets(thirty, "month"))
    weeks = [day_label(week_first_day(w)) for w in monthly[WEEK]]
    assert weeks == ["2026-11-02", "2026-11-09", "2026-11-16"]
    for gran, numbers in monthly.items():
        for b in numbers:
            first_day = {DAY: b, WEEK: week_first_day(b)}[gran]
            assert fold(gran, b, "month") == month_of(first_day)
    # A week series: whole weeks, and days folded into their week.
    weekly = dict(rollup_buckets(thirty, "week"))
    assert fold(DAY, day_number("2026-10-25"), "week") == week_of(day_number("2026-10-19"))
    assert len(weekly[WEEK]) == 4
    # A week that would hide a whole month is not taken.
    parts = dict(rollup_buckets(r("2026-10-26", "2026-12-31"), "none"))
    assert parts[MONTH] == [month_of(day_number("2026-11-01")), month_of(day_number("2026-12-01"))]
    assert WEEK not in parts


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ({"property": "event:page"}, (True, None)),
        ({"filters": "event:page==/blog"}, (False, "/blog")),
        ({"property": "event:page", "filters": "event:page==/blog"}, (True, "/blog")),
    ],
)
def test_engagement_metrics_read_the_page_rows(args: dict[str, str], answer: object) -> None:
    endpoint = "breakdown" if "property" in args else "aggregate"
    q = parse_query(
        endpoint, {"site_id": "s", "metrics": "scroll_depth", **args}, "UTC", 20_000, {}
    )
    stripped, had = without_engagement(q)
    assert had
    assert stripped.metrics == ("visitors",)
    assert engagement_page(stripped) == answer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "need an event:page filter or breakdown"),
        ({"filters": "event:page==/a|/b"}, "kept per page"),
        ({"filters": "event:page==/blog/*"}, "kept per page"),
        ({"filters": "event:page!=/blog"}, "kept per page"),
        ({"filters": "event:page==/a;visit:country==DE"}, "kept per page"),
        ({"property": "visit:source", "filters": "event:page==/a"}, "kept per page"),
        ({"filters": "visit:country==DE"}, "kept per page"),
    ],
)
def test_engagement_metrics_refuse_what_the_page_rows_cannot_say(
    args: dict[str, str], message: str
) -> None:
    endpoint = "breakdown" if "property" in args else "aggregate"
    q = parse_query(
        endpoint, {"site_id": "s", "metrics": "scroll_depth,visitors", **args}, "UTC", 20_000, {}
    )
    stripped, _ = without_engagement(q)
    assert stripped.metrics == ("visitors",)
    with pytest.raises(QueryError, match=message):
        engagement_page(stripped)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "can only be queried in a page breakdown or with a page filter."),
        ({"filters": "visit:country==DE"}, "can only be queried in a page breakdown"),
        ({"filters": "event:page==/a;event:goal==Signup"}, "when filtering by `event:goal`"),
        ({"filters": '[["is", "event:name", ["Signup"]]]'}, "when filtering by `event:name`"),
        (
            {"property": "visit:source", "filters": "event:page==/a"},
            "is not supported in breakdown queries (except `event:page` breakdown)",
        ),
    ],
)
def test_v1_time_on_page_follows_plausibles_rules(args: dict[str, str], message: str) -> None:
    """Plausible's v1 words for a time_on_page it refuses (its v1 tests)."""
    endpoint = "breakdown" if "property" in args else "aggregate"
    params = {"site_id": "s", "metrics": "time_on_page", **args}
    with pytest.raises(QueryError, match=re.escape(message)) as err:
        parse_query(endpoint, params, "UTC", 20_000, {}, goals=("Signup",))
    assert str(err.value).startswith("Metric `time_on_page`")


@pytest.mark.parametrize(
    "args",
    [{"property": "event:page"}, {"filters": "event:page==/a"}, {"filters": "event:page==/a*"}],
)
def test_v1_time_on_page_with_a_page_is_taken(args: dict[str, str]) -> None:
    endpoint = "breakdown" if "property" in args else "aggregate"
    q = parse_query(
        endpoint, {"site_id": "s", "metrics": "time_on_page", **args}, "UTC", 20_000, {}
    )
    assert q.metrics == ("time_on_page",)


def test_filter_values_are_the_values_the_rows_hold() -> None:
    """Plausible's labels of the empty value filter it; earlier spellings of
    channels and devices still filter as Plausible's names."""
    from analyticsd.core.query import prop_of, shown_value, stored_value

    utm, ref, os_ = (
        prop_of(n, "filters") for n in ("visit:utm_source", "visit:referrer", "visit:os")
    )
    assert stored_value(utm, "(not set)") == ""
    assert stored_value(utm, "Direct / None") == ""  # as Plausible's filters read it
    assert stored_value(ref, "Direct / None") == ""
    assert stored_value(os_, "(not set)") == ""
    assert stored_value(os_, "Direct / None") == "Direct / None"
    assert stored_value(prop_of("visit:source", "filters"), "Direct / None") == "Direct / None"
    assert stored_value(prop_of("visit:channel", "filters"), "organic") == "Organic Search"
    assert stored_value(prop_of("visit:device", "filters"), "desktop") == "Desktop"
    assert shown_value(utm, "") == "(not set)"
    assert shown_value(ref, "") == "Direct / None"
    assert shown_value(prop_of("visit:country", "filters"), "") == ""


@pytest.mark.parametrize(
    ("values", "p", "want"),
    [
        ([], 50, None),
        ([7], 0, 7),
        ([7], 99, 7),
        ([3, 1, 2], 50, 2),
        ([1, 2, 3, 4], 50, 2.5),
        ([100, 200, 300, 400, 1000], 90, 760),
        ([100, 200, 300, 400, 1000], 0, 100),
        ([100, 200, 300, 400, 1000], 100, 1000),
        ([10, 20, 30], 25, 15),
    ],
)
def test_percentile_interpolates_between_the_closest_ranks(
    values: list[float], p: float, want: float | None
) -> None:
    got = percentile(values, p)
    assert got == want if want is None else got == pytest.approx(want)
