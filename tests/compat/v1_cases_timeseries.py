"""Ported from Plausible's external_stats_controller/timeseries_test.exs.

Plausible's filter tests ask for period=month of January 2021 and look at
its first day; moving the dates into our window takes them out of a
calendar month, so here they ask for the 31 days from 2021-01-01 as a custom
range (the same first point). `first`: how many leading points Plausible's
test compares. See v1_cases_aggregate for the case format.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v1_cases_aggregate import (
    HOSTNAME,
    PAGE_OF_EVENTS,
    _rejected,
)
from tests.compat.v2_cases_filters import SCHEMELESS, ev, pv

U = 1231
T0, T25 = "2021-01-01 00:00:00", "2021-01-01 00:25:00"
MONTH = {"period": "custom", "date": "2021-01-01,2021-01-31"}
DOCS = "https://plausible.io/docs/stats-api"
INTERVALS_EXTRA = (
    "our message also names the intervals we add (minute, hour, week) and that `date` is "
    "taken as `day`"
)


def _series(
    name: str, events: list[dict[str, Any]], params: dict[str, Any], first: list[Any], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": "timeseries",
        "events": events,
        "params": params,
        "results": first,
        "first": len(first),
        **extra,
    }


def _month_filter(
    name: str, events: list[dict[str, Any]], filters: str, n: int, **extra: Any
) -> dict[str, Any]:
    return _series(
        name,
        events,
        {**MONTH, "filters": filters},
        [{"date": "2021-01-01", "visitors": n}],
        **extra,
    )


def _ts_rejected(name: str, params: dict[str, Any], error: str, **extra: Any) -> dict[str, Any]:
    return {**_rejected(name, params, error, **extra), "endpoint": "timeseries"}


def _hour(
    h: int, visitors: int = 0, pageviews: int = 0, duration: int | None = None, bounce: int = 0
) -> dict[str, Any]:
    return {
        "date": f"2021-01-01 {h:02d}:00:00",
        "visitors": visitors,
        "visits": visitors,
        "pageviews": pageviews,
        "visit_duration": duration,
        "bounce_rate": bounce,
    }


def _goal_month(
    name: str,
    events: list[dict[str, Any]],
    goals: list[str],
    metrics: str,
    filters: str,
    point: dict[str, Any],
) -> dict[str, Any]:
    return _series(
        name,
        events,
        {**MONTH, "metrics": metrics, "filters": filters},
        [{"date": "2021-01-01", **point}],
        goals=goals,
    )


def _cr(
    name: str,
    events: list[dict[str, Any]],
    filters: str,
    first: list[Any],
    date: str = "2021-01-11",
    **extra: Any,
) -> dict[str, Any]:
    return _series(
        name,
        events,
        {"metrics": "conversion_rate", "filters": filters, "period": "7d", "date": date},
        first,
        goals=["event:Signup"],
        **extra,
    )


D4 = "2021-01-04 00:12:00"
PURCHASES = [
    ev("Purchase", props={"package": "business"}, ts=T0),
    ev("Purchase", props={"package": "business"}, ts=T0),
    ev("Purchase", props={"package": "personal"}, ts=T25),
    ev("Purchase", props={"package": "business"}, ts="2021-01-02 00:25:00"),
]


def _last_7d(
    name: str, events: list[dict[str, Any]], metrics: str, points: list[dict[str, Any]]
) -> dict[str, Any]:
    """Plausible's 7d series of 2021-01-01 to 01-07, asked with date=01-08
    (which is not one of its days). Its last event, at 23:59 of 01-07, is at
    00:00 here: moved to end today, 23:59 has not come yet."""
    return {
        **_series(
            name,
            events,
            {"period": "7d", "metrics": metrics, "date": "2021-01-08"},
            [{"date": f"2021-01-{d + 1:02d}", **p} for d, p in enumerate(points)],
        ),
        "today": True,
    }


LAST_DAY = "2021-01-07 00:00:00"
EMPTY_VISITS = {"pageviews": 0, "visits": 0, "views_per_visit": 0.0}

CASES: list[dict[str, Any]] = [
    _series(
        "can filter by an internal prop without access to the props feature",
        [],
        {"period": "month", "date": "2021-01-01", "filters": "event:props:path==/404"},
        [{"date": "2021-01-01", "visitors": 0}],
    ),
    _ts_rejected(
        "validates that date can be parsed",
        {"period": "6mo", "date": "2021-dkjbAS"},
        "Error parsing `date` parameter: invalid_format. "
        "Please specify a valid date in ISO-8601 format.",
    ),
    {
        "name": "ignores a given property parameter",
        "endpoint": "timeseries",
        "events": [],
        "params": {"property": "event:props:author", "metrics": "visit_duration"},
        "status": 200,
    },
    _ts_rejected(
        "validates that period can be parsed",
        {"period": "aosuhsacp"},
        "Error parsing `period` parameter: invalid period `aosuhsacp`. "
        f"Please find accepted values in our docs: {DOCS}#time-periods",
    ),
    _series(
        "legacy `date` interval is overridden to `day`",
        [],
        {"date": "2021-06-30", "period": "6mo", "interval": "date"},
        [{"date": "2021-01-01", "visitors": 0}, {"date": "2021-01-02", "visitors": 0}],
    ),
    _ts_rejected(
        "validates that interval is `day` or `month`",
        {"period": "12mo", "interval": "alskd"},
        "Error parsing `interval` parameter: invalid interval `alskd`. "
        "Valid intervals are `day`, `month`",
        differs=INTERVALS_EXTRA,
    ),
    {
        **_series(
            "shows hourly data for a certain date",
            [pv(user=U, ts=T0), pv(user=U, ts="2021-01-01 00:10:00"), pv(ts="2021-01-01 23:59:00")],
            {
                "period": "day",
                "date": "2021-01-01",
                "metrics": "visitors,pageviews,visits,visit_duration,bounce_rate",
            },
            [
                _hour(0, 1, 2, 600, 0),
                *(_hour(h) for h in range(1, 23)),
                _hour(23, 1, 1, 0, 100),
            ],
        ),
    },
    _last_7d(
        "shows last 7 days of visitors",
        [pv(ts=T0), pv(ts=LAST_DAY)],
        "visitors",
        [{"visitors": 1}, *[{"visitors": 0}] * 5, {"visitors": 1}],
    ),
    _last_7d(
        "shows pageviews,visits,views_per_visit for last 7d",
        [pv(user=U, ts=T0), pv(user=U, ts="2021-01-01 00:05:00"), pv(ts=T0), pv(ts=LAST_DAY)],
        "pageviews,visits,views_per_visit",
        [
            {"pageviews": 3, "visits": 2, "views_per_visit": 1.5},
            *[EMPTY_VISITS] * 5,
            {"pageviews": 1, "visits": 1, "views_per_visit": 1.0},
        ],
    ),
    _last_7d(
        "shows events for last 7d",
        [ev("Signup", ts=T0), ev("Signup", ts=T0), ev("Signup", ts=LAST_DAY)],
        "events",
        [{"events": 2}, *[{"events": 0}] * 5, {"events": 1}],
    ),
    _last_7d(
        "rounds views_per_visit to two decimal places",
        [
            pv(user=U, ts=T0),
            pv(user=U, ts="2021-01-01 00:05:00"),
            pv(user=U, ts="2021-01-03 00:00:00"),
            pv(user=U, ts="2021-01-03 00:01:00"),
            pv(ts="2021-01-03 00:00:00"),
            pv(ts="2021-01-03 00:00:00"),
            pv(ts=LAST_DAY),
        ],
        "views_per_visit",
        [{"views_per_visit": v} for v in (2.0, 0.0, 1.33, 0.0, 0.0, 0.0, 1.0)],
    ),
    _series(
        "shows a custom range with daily interval",
        [pv(ts=T0), pv(ts=T0), pv(ts="2021-01-02 00:00:00")],
        {"period": "custom", "date": "2021-01-01,2021-01-02"},
        [{"date": "2021-01-01", "visitors": 2}, {"date": "2021-01-02", "visitors": 1}],
    ),
    # -- filters ----------------------------------------------------------------
    {
        **_ts_rejected(
            "event:goal filter returns 400 when goal not configured",
            {
                "period": "month",
                "date": "2021-01-01",
                "metrics": "visitors,events",
                "filters": "event:goal==Visit /register**",
            },
            "The pageview goal for the pathname `/register**` is not configured for this site",
            exact=False,
        ),
    },
    _ts_rejected(
        "validates that filters are valid",
        {
            "period": "month",
            "date": "2021-01-01",
            "metrics": "visitors,events",
            "filters": "badproperty==bar",
        },
        "Invalid filter property 'badproperty'. "
        f"Please provide a valid filter property: {DOCS}#properties",
    ),
    _goal_month(
        "can filter by a custom event goal",
        [
            ev("Signup", ts=T0),
            ev("Signup", user=U, ts=T25),
            ev("Signup", user=U, ts=T25),
            ev("NotConfigured", ts=T25),
        ],
        ["event:Signup"],
        "visitors,events",
        "event:goal==Signup",
        {"visitors": 2, "events": 3},
    ),
    _goal_month(
        "can filter by a simple pageview goal",
        [
            pv(path="/register", ts=T0),
            pv(path="/register", user=U, ts=T25),
            pv(path="/register", user=U, ts=T25),
            pv(path="/", ts=T25),
        ],
        ["page:/register"],
        "visitors,pageviews",
        "event:goal==Visit /register",
        {"visitors": 2, "pageviews": 3},
    ),
    _goal_month(
        "can filter by a wildcard pageview goal",
        [
            pv(path="/blog/post-1", ts=T25),
            pv(path="/blog/post-2", user=U, ts=T25),
            pv(path="/blog", user=U, ts=T25),
            pv(path="/", ts=T25),
        ],
        ["page:/blog**"],
        "visitors,pageviews",
        "event:goal==Visit /blog**",
        {"visitors": 2, "pageviews": 3},
    ),
    _goal_month(
        "can filter by multiple custom event goals",
        [
            ev("Signup", ts=T25),
            ev("Purchase", user=U, ts=T25),
            ev("Purchase", user=U, ts=T25),
            pv(ts=T25),
        ],
        ["event:Signup", "event:Purchase"],
        "visitors,events",
        "event:goal==Signup|Purchase",
        {"visitors": 2, "events": 3},
    ),
    _goal_month(
        "can filter by multiple mixed goals",
        [
            pv(path="/account/register", ts=T25),
            pv(path="/register", user=U, ts=T25),
            ev("Signup", user=U, ts=T25),
            pv(ts=T25),
        ],
        ["event:Signup", "page:/**register"],
        "visitors,events,pageviews",
        "event:goal==Signup|Visit /**register",
        {"visitors": 2, "events": 3, "pageviews": 2},
    ),
    _month_filter("can filter by source", [pv(source="Google"), pv()], "visit:source==Google", 1),
    _month_filter(
        "can filter by channel",
        [pv(source="Bing"), pv()],
        "visit:channel==Organic Search",
        1,
    ),
    _month_filter(
        "can filter by no source/referrer",
        [pv(), pv(source="Google")],
        "visit:source==Direct / None",
        1,
    ),
    _month_filter(
        "can filter by referrer",
        [pv(referrer="https://facebook.com"), pv()],
        "visit:referrer==https://facebook.com",
        1,
        ingest_values=SCHEMELESS,
    ),
    _month_filter(
        "can filter by utm_medium", [pv(utm_medium="social"), pv()], "visit:utm_medium==social", 1
    ),
    _month_filter(
        "can filter by utm_source", [pv(utm_source="Twitter"), pv()], "visit:utm_source==Twitter", 1
    ),
    _month_filter(
        "can filter by utm_campaign",
        [pv(utm_campaign="profile"), pv()],
        "visit:utm_campaign==profile",
        1,
    ),
    _month_filter(
        "can filter by device type",
        [pv(screen="Desktop"), pv()],
        "visit:device==Desktop",
        1,
    ),
    _month_filter(
        "can filter by browser",
        [
            pv(browser="Chrome", browser_version="56.1"),
            pv(browser="Chrome", browser_version="55"),
            pv(),
        ],
        "visit:browser==Chrome;visit:browser_version==56.1",
        1,
    ),
    _month_filter(
        "can filter by operating system",
        [
            pv(os="Mac", os_version="10.5"),
            pv(os="Something else", os_version="10.5"),
            pv(os="Mac", os_version="10.4"),
            pv(),
        ],
        "visit:os == Mac;visit:os_version==10.5",
        1,
    ),
    _series(
        "can filter by country",
        [pv(user=U, country="EE", ts=T0), pv(user=U, country="EE", ts="2021-01-01 00:15:00"), pv()],
        {
            **MONTH,
            "filters": "visit:country==EE",
            "metrics": "visitors,pageviews,bounce_rate,visit_duration",
        },
        [
            {
                "date": "2021-01-01",
                "visitors": 1,
                "pageviews": 2,
                "bounce_rate": 0,
                "visit_duration": 900,
            }
        ],
    ),
    _series(
        "can filter by page",
        [
            pv(user=U, ts=T0),
            pv(path="/hello", user=U, ts="2021-01-01 00:05:00"),
            pv(path="/hello", ts="2021-01-01 05:00:00"),
            pv(path="/goodbye", ts=T0),
        ],
        {
            **MONTH,
            "filters": "event:page==/hello",
            "metrics": "visitors,visits,pageviews,bounce_rate,visit_duration",
        },
        [
            {
                "date": "2021-01-01",
                "visitors": 2,
                "visits": 2,
                "pageviews": 2,
                "bounce_rate": 100,
                "visit_duration": 150,
            }
        ],
    ),
    _series(
        "can filter by hostname",
        [
            pv(user=U, hostname="landing.example.com", ts="2021-01-01 00:00:01"),
            pv(user=U, hostname="example.com", ts="2021-01-01 00:00:02"),
            pv(user=U, hostname="example.com", ts="2021-01-01 00:00:06"),
        ],
        {
            "period": "day",
            "date": "2021-01-01",
            "filters": "event:hostname==example.com",
            "metrics": "visitors,visits,pageviews,bounce_rate,visit_duration",
        },
        [
            {
                "bounce_rate": 0,
                "date": "2021-01-01 00:00:00",
                "pageviews": 2,
                "visit_duration": 5,
                "visitors": 1,
                "visits": 1,
            }
        ],
        differs=HOSTNAME,
    ),
    _month_filter("can filter by event:name", [ev("Signup"), pv()], "event:name==Signup", 1),
    _series(
        "filter by custom event property",
        PURCHASES,
        {**MONTH, "filters": "event:name==Purchase;event:props:package==business"},
        [{"date": "2021-01-01", "visitors": 2}, {"date": "2021-01-02", "visitors": 1}],
    ),
    _series(
        "filter by multiple custom event properties",
        [
            ev("Purchase", props={"package": "business", "browser": "Chrome"}, ts=T0),
            ev("Purchase", props={"package": "business", "browser": "Firefox"}, ts=T0),
            ev("Purchase", props={"package": "personal", "browser": "Firefox"}, ts=T25),
            ev("Purchase", props={"package": "business"}, ts="2021-01-02 00:25:00"),
        ],
        {
            **MONTH,
            "filters": "event:name==Purchase;event:props:package==business;"
            "event:props:browser==Firefox",
        },
        [{"date": "2021-01-01", "visitors": 1}, {"date": "2021-01-02", "visitors": 0}],
    ),
    _series(
        "filter by multiple custom event properties matching",
        [
            ev("Purchase", props={"package": "business", "browser": "Chrome"}, ts=T0),
            ev("Purchase", props={"package": "business", "browser": "Firefox"}, ts=T0),
            ev(
                "Purchase",
                props={"package": "personal", "browser": "Safari"},
                ts="2021-01-02 00:25:00",
            ),
            ev("Purchase", props={"package": "business"}, ts="2021-01-02 00:25:00"),
        ],
        {**MONTH, "filters": "event:name==Purchase;event:props:browser==F*|S*"},
        [{"date": "2021-01-01", "visitors": 1}, {"date": "2021-01-02", "visitors": 1}],
    ),
    # -- metrics ----------------------------------------------------------------
    _cr(
        "returns conversion rate as 0 when no stats exist",
        [],
        "event:goal==Signup",
        [{"date": f"2021-01-{d:02d}", "conversion_rate": 0} for d in range(3, 10)],
        date="2021-01-10",
    ),
    _cr(
        "returns conversion rate when goal filter is applied",
        [
            ev("Signup", ts="2021-01-04 00:00:00"),
            ev("Signup", ts="2021-01-04 00:00:00"),
            pv(ts="2021-01-04 00:00:00"),
            ev("Signup", ts="2021-01-05 00:00:00"),
        ],
        "event:goal==Signup",
        [
            {"date": "2021-01-04", "conversion_rate": 66.67},
            {"date": "2021-01-05", "conversion_rate": 100.0},
        ],
    ),
    _cr(
        "returns conversion rate with a goal + custom prop filter",
        [
            ev("Signup", props={"author": "Teet"}, ts=D4),
            ev("Signup", props={"author": "Tiit"}, ts=D4),
            ev("Signup", ts=D4),
            pv(props={"author": "Teet"}, ts=D4),
        ],
        "event:goal==Signup;event:props:author==Teet",
        [{"date": "2021-01-04", "conversion_rate": 25.0}],
    ),
    _cr(
        "returns conversion rate with a goal + page filter",
        [
            ev("Signup", path="/yes", ts=D4),
            ev("Signup", path="/no", ts=D4),
            ev("Signup", ts=D4),
            pv(path="/yes", ts=D4),
            pv(path="/yes", ts=D4),
        ],
        "event:goal==Signup;event:page==/yes",
        [{"date": "2021-01-04", "conversion_rate": 33.33}],
        differs=PAGE_OF_EVENTS,
    ),
    _cr(
        "returns conversion rate with a goal + session filter",
        [
            ev("Signup", screen="Mobile", ts=D4),
            ev("Signup", screen="Laptop", ts=D4),
            ev("Signup", ts=D4),
            pv(screen="Mobile", ts=D4),
            pv(screen="Mobile", ts=D4),
        ],
        "event:goal==Signup;visit:device==Mobile",
        [{"date": "2021-01-04", "conversion_rate": 33.33}],
    ),
    _ts_rejected(
        "validates that conversion_rate cannot be queried without a goal filter",
        {"metrics": "conversion_rate"},
        "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter",
    ),
]
