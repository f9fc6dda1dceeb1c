"""Ported from Plausible's external_stats_controller/breakdown_test.exs.

See v1_cases_aggregate for the case format; `endpoint` is breakdown here.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v1_cases_aggregate import (
    PAGE_OF_EVENTS,
    SESSION_EXTRA,
    TIME_ON_PAGE,
    VALUES,
    _rejected,
)
from tests.compat.v2_cases_filters import ev, pv

U = 1231
T0, T25 = "2021-01-01 00:00:00", "2021-01-01 00:25:00"
DAY = {"period": "day", "date": "2021-01-01"}
DOCS = "https://plausible.io/docs/stats-api"
WITH_IMPORTED = (
    "with_imported belongs to the import of Plausible data (another change); until then it "
    "is an unknown parameter here"
)


def _bd_rejected(name: str, params: dict[str, Any], error: str, **extra: Any) -> dict[str, Any]:
    return {**_rejected(name, params, error, **extra), "endpoint": "breakdown"}


def _bd(
    name: str, events: list[dict[str, Any]], params: dict[str, Any], rows: list[Any], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": "breakdown",
        "events": events,
        "params": {**DAY, **params},
        "results": rows,
        **extra,
    }


def _simple(
    name: str, attr: str, key: str, value: str, blank: Any, rows: list[Any], **extra: Any
) -> dict[str, Any]:
    """Plausible's "breakdown by visit:X": two visitors with a value and one
    with `blank`."""
    events = [pv(**{attr: value}, ts=T0), pv(**{attr: value}, ts=T25)]
    events.append(pv(**({attr: blank} if blank is not None else {}), ts=T0))
    return _bd(name, events, {"property": key}, rows, **extra)


def _by_hostname(prop: str, attr: str) -> dict[str, Any]:
    return _bd(
        f"breakdown by {prop} when filtered by hostname",
        [
            pv(**{attr: "ad"}, user=U, hostname="two.example.com", ts=T0),
            pv(user=U, hostname="one.example.com", ts="2021-01-01 00:15:00"),
        ],
        {"filters": "event:hostname==one.example.com", "property": prop},
        [],
    )


def _session_rejected(name: str, params: dict[str, Any], error: str) -> dict[str, Any]:
    return _bd_rejected(name, params, error, differs=SESSION_EXTRA)


COSTS = [
    ev("Purchase", props={"cost": "16"}, ts=T0),
    ev("Purchase", props={"cost": "16"}, ts=T0),
    ev("Purchase", props={"cost": "18"}, ts=T25),
    ev("Purchase", props={"cost": "14"}, ts=T25),
    ev("Purchase", props={"cost": "14"}, ts="2021-01-01 00:26:00"),
]
PAGE_A_SIGNUPS = [
    ev("Signup", path="/pageA", browser="Chrome", ts=T0),
    ev("Signup", path="/pageA", browser="Chrome", ts=T0),
    ev("Signup", path="/pageA", browser="Safari", ts=T0),
    ev("Signup", path="/pageB", browser="Chrome", ts=T0),
    pv(path="/pageA", browser="Chrome", ts=T25),
]

CASES: list[dict[str, Any]] = [
    # -- param validation ------------------------------------------------------
    _bd_rejected(
        "time_on_page is not supported in breakdown queries other than by event:page",
        {"property": "visit:source", "filters": "event:page==/A", "metrics": "time_on_page"},
        "Metric `time_on_page` is not supported in breakdown queries (except `event:page` "
        "breakdown)",
        differs=TIME_ON_PAGE,
    ),
    _bd_rejected(
        "does not allow querying conversion_rate without a goal filter",
        {"property": "event:page", "metrics": "conversion_rate"},
        "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter",
    ),
    _bd_rejected(
        "validates that property is required",
        {},
        "The `property` parameter is required. "
        "Please provide at least one property to show a breakdown by.",
    ),
    _bd_rejected(
        "validates that property is valid",
        {"property": "badproperty"},
        "Invalid property 'badproperty'. "
        f"Please provide a valid property for the breakdown endpoint: {DOCS}#properties",
    ),
    _bd_rejected(
        "empty custom prop is invalid",
        {"property": "event:props:"},
        "Invalid property 'event:props:'. "
        f"Please provide a valid property for the breakdown endpoint: {DOCS}#properties",
    ),
    _bd_rejected(
        "validates that correct period is used",
        {"period": "bad_period"},
        "Error parsing `period` parameter: invalid period `bad_period`. "
        f"Please find accepted values in our docs: {DOCS}#time-periods",
    ),
    _bd_rejected(
        "fails when an invalid metric is provided",
        {"property": "event:page", "metrics": "visitors,baa"},
        "The metric `baa` is not recognized. "
        f"Find valid metrics from the documentation: {DOCS}#metrics",
    ),
    _session_rejected(
        "session metrics cannot be used with event:name property",
        {"property": "event:name", "metrics": "visitors,bounce_rate"},
        "Session metric `bounce_rate` cannot be queried for breakdown by `event:name`.",
    ),
    _session_rejected(
        "session metrics cannot be used with event:props:* property",
        {"property": "event:props:url", "metrics": "visitors,bounce_rate"},
        "Session metric `bounce_rate` cannot be queried for breakdown by `event:props:url`.",
    ),
    _session_rejected(
        "session metrics cannot be used with event:name filter",
        {
            "property": "event:page",
            "filters": "event:name==Signup",
            "metrics": "visitors,bounce_rate",
        },
        "Session metric `bounce_rate` cannot be queried when using a filter on `event:name`.",
    ),
    _session_rejected(
        "session metrics cannot be used with event:props:* filter",
        {
            "property": "event:page",
            "filters": "event:props:url==google.com",
            "metrics": "visitors,bounce_rate",
        },
        "Session metric `bounce_rate` cannot be queried when using a filter on `event:props:url`.",
    ),
    # -- visit properties ----------------------------------------------------------
    _simple(
        "breakdown by visit:source",
        "source",
        "visit:source",
        "Google",
        None,
        [{"source": "Google", "visitors": 2}, {"source": "Direct / None", "visitors": 1}],
    ),
    _simple(
        "breakdown by visit:channel",
        "source",
        "visit:channel",
        "Bing",
        None,
        [{"channel": "Organic Search", "visitors": 2}, {"channel": "Direct", "visitors": 1}],
        differs=VALUES + ": channels organic and direct, not Organic Search and Direct",
    ),
    _bd(
        "breakdown by visit:country",
        [pv(country="EE", ts=T0), pv(country="EE", ts=T25), pv(country="US", ts=T0)],
        {"property": "visit:country"},
        [{"country": "EE", "visitors": 2}, {"country": "US", "visitors": 1}],
    ),
    _simple(
        "breakdown by visit:referrer",
        "referrer",
        "visit:referrer",
        "https://ref.com",
        None,
        [
            {"referrer": "https://ref.com", "visitors": 2},
            {"referrer": "Direct / None", "visitors": 1},
        ],
        differs=VALUES + ": referrers without their scheme, and no Direct / None row",
    ),
    _by_hostname("visit:utm_campaign", "utm_campaign"),
    _by_hostname("visit:utm_source", "utm_source"),
    _by_hostname("visit:utm_term", "utm_term"),
    _by_hostname("visit:utm_content", "utm_content"),
    _simple(
        "breakdown by visit:utm_medium",
        "utm_medium",
        "visit:utm_medium",
        "Search",
        None,
        [{"utm_medium": "Search", "visitors": 2}],
    ),
    _simple(
        "breakdown by visit:utm_source",
        "utm_source",
        "visit:utm_source",
        "Google",
        None,
        [{"utm_source": "Google", "visitors": 2}],
    ),
    _simple(
        "breakdown by visit:utm_campaign",
        "utm_campaign",
        "visit:utm_campaign",
        "ads",
        None,
        [{"utm_campaign": "ads", "visitors": 2}],
    ),
    _simple(
        "breakdown by visit:utm_content",
        "utm_content",
        "visit:utm_content",
        "Content1",
        None,
        [{"utm_content": "Content1", "visitors": 2}],
    ),
    _simple(
        "breakdown by visit:utm_term",
        "utm_term",
        "visit:utm_term",
        "Term1",
        None,
        [{"utm_term": "Term1", "visitors": 2}],
    ),
    _simple(
        "breakdown by visit:device",
        "screen",
        "visit:device",
        "Desktop",
        "Mobile",
        [{"device": "Desktop", "visitors": 2}, {"device": "Mobile", "visitors": 1}],
        differs=VALUES + ": devices desktop and mobile, not Desktop and Mobile",
    ),
    _simple(
        "breakdown by visit:os",
        "os",
        "visit:os",
        "Mac",
        "Windows",
        [{"os": "Mac", "visitors": 2}, {"os": "Windows", "visitors": 1}],
        differs=VALUES + ": macOS, not Mac",
    ),
    _simple(
        "breakdown by visit:browser",
        "browser",
        "visit:browser",
        "Firefox",
        "Safari",
        [{"browser": "Firefox", "visitors": 2}, {"browser": "Safari", "visitors": 1}],
    ),
    # -- pages --------------------------------------------------------------------
    _bd(
        "breakdown by event:page",
        [pv(path="/", ts=T0), pv(path="/", ts=T25), pv(path="/plausible.io", ts=T0)],
        {"property": "event:page"},
        [{"page": "/", "visitors": 2}, {"page": "/plausible.io", "visitors": 1}],
    ),
    _bd(
        "breakdown by event:page when there are no events in the second page",
        [pv(path="/", ts=T0), pv(path="/", ts=T25), pv(path="/plausible.io", ts=T0)],
        {"property": "event:page", "metrics": "visitors,bounce_rate", "page": 2, "limit": 2},
        [],
    ),
    {
        **_bd_rejected(
            "attempting to breakdown by event:hostname returns an error",
            {"property": "event:hostname", "with_imported": "true"},
            "Property 'event:hostname' is currently not supported for breakdowns.",
            exact=False,
            differs=WITH_IMPORTED,
        ),
        "params": {**DAY, "property": "event:hostname", "with_imported": "true"},
    },
    # -- custom events --------------------------------------------------------------
    _bd(
        "can breakdown by event:name",
        [ev("Signup", ts=T0), ev("Signup", ts=T0), pv(ts=T25)],
        {"property": "event:name"},
        [{"name": "Signup", "visitors": 2}, {"name": "pageview", "visitors": 1}],
    ),
    _bd(
        "can breakdown by event:name with visitors and events metrics",
        [
            pv(path="/non-existing", user=U, ts=T0),
            ev("404", path="/non-existing", user=U, ts=T0),
            pv(path="/non-existing", ts="2021-01-01 00:00:01"),
            pv(path="/non-existing", user=U, ts="2021-01-01 00:00:02"),
            ev("404", path="/non-existing", user=U, ts="2021-01-01 00:00:02"),
            pv(path="/non-existing", user=U, ts="2021-01-01 00:00:03"),
        ],
        {"property": "event:name", "metrics": "visitors,events"},
        [
            {"name": "pageview", "visitors": 2, "events": 4},
            {"name": "404", "visitors": 1, "events": 2},
        ],
    ),
    _bd(
        "can breakdown by event:name while filtering for something",
        PAGE_A_SIGNUPS,
        {"property": "event:name", "filters": "event:page==/pageA;visit:browser==Chrome"},
        [{"name": "Signup", "visitors": 2}, {"name": "pageview", "visitors": 1}],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "can breakdown by a visit:property when filtering by event:name",
        [
            pv(source="Google", user=U, ts=T0),
            ev("Signup", user=U, ts=T0),
            pv(source="Twitter", ts=T25),
        ],
        {"property": "visit:source", "filters": "event:name==Signup"},
        [{"source": "Google", "visitors": 1}],
    ),
    _bd(
        "can breakdown by event:name when filtering by event:page",
        [
            pv(path="/pageA", ts=T0),
            pv(path="/pageA", ts=T0),
            ev("Signup", path="/pageA", ts=T0),
            pv(path="/pageB", source="Twitter", ts=T25),
        ],
        {"property": "event:name", "filters": "event:page==/pageA"},
        [{"name": "pageview", "visitors": 2}, {"name": "Signup", "visitors": 1}],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "can breakdown by event:page when filtering by event:name",
        [
            ev("Signup", path="/pageA", ts=T0),
            ev("Signup", path="/pageA", ts=T0),
            ev("Signup", path="/pageB", ts=T0),
            pv(path="/pageB", source="Twitter", ts=T25),
        ],
        {"property": "event:page", "filters": "event:name==Signup"},
        [{"page": "/pageA", "visitors": 2}, {"page": "/pageB", "visitors": 1}],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "can filter event:page with a wildcard",
        [pv(path="/en/page1"), pv(path="/en/page2"), pv(path="/en/page2"), pv(path="/pl/page1")],
        {"property": "event:page", "filters": "event:page==/en/**"},
        [{"page": "/en/page2", "visitors": 2}, {"page": "/en/page1", "visitors": 1}],
    ),
    _bd(
        "can filter event:hostname with a wildcard",
        [
            pv(hostname="alice.example.com", path="/a"),
            pv(hostname="anna.example.com", path="/a"),
            pv(hostname="adam.example.com", path="/a"),
            pv(hostname="bob.example.com", path="/b"),
        ],
        {"property": "event:page", "filters": "event:hostname==a*.example.com"},
        [{"page": "/a", "visitors": 3}],
    ),
    _bd(
        "breakdown by custom event property",
        [
            ev("Purchase", props={"package": "business"}, ts=T0),
            ev("Purchase", props={"package": "personal"}, ts=T0),
            ev("Purchase", props={"package": "business"}, ts=T25),
            ev("Some other event", props={"package": "business"}, ts=T25),
        ],
        {"property": "event:props:package", "filters": "event:name==Purchase"},
        [{"package": "business", "visitors": 2}, {"package": "personal", "visitors": 1}],
    ),
    _bd(
        "breakdown by custom event property, with pageviews metric",
        [
            pv(props={"package": "business"}, ts=T0),
            pv(props={"package": "personal"}, ts=T0),
            pv(props={"package": "business"}, ts=T25),
        ],
        {"property": "event:props:package", "metrics": "pageviews"},
        [{"package": "business", "pageviews": 2}, {"package": "personal", "pageviews": 1}],
    ),
    _bd(
        "breakdown by custom event property, with (none)",
        [
            ev("Purchase", props={"cost": "16"}, ts=T0),
            ev("Purchase", props={"cost": "16"}, ts=T0),
            ev("Purchase", props={"cost": "16"}, ts=T0),
            ev("Purchase", ts=T25),
            ev("Purchase", props={"cost": "14"}, ts=T25),
            ev("Purchase", props={"cost": "14"}, ts="2021-01-01 00:26:00"),
        ],
        {"property": "event:props:cost", "filters": "event:name==Purchase"},
        [
            {"cost": "16", "visitors": 3},
            {"cost": "14", "visitors": 2},
            {"cost": "(none)", "visitors": 1},
        ],
        differs=VALUES + ": no (none) row for events without the property",
    ),
    _bd(
        "breakdown by custom event property, limited",
        [COSTS[0], *COSTS[2:]],
        {"property": "event:props:cost", "filters": "event:name==Purchase", "limit": 2},
        [{"cost": "14", "visitors": 2}, {"cost": "16", "visitors": 1}],
    ),
    _bd(
        "breakdown by custom event property, paginated",
        COSTS,
        {"property": "event:props:cost", "filters": "event:name==Purchase", "limit": 2, "page": 2},
        [{"cost": "18", "visitors": 1}],
    ),
]
