"""Ported from Plausible's external_stats_controller/breakdown_test.exs.

See v1_cases_aggregate for the case format; `endpoint` is breakdown here.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v1_cases_aggregate import (
    PAGE_OF_EVENTS,
    SESSION_EXTRA,
    _rejected,
)
from tests.compat.v2_cases_filters import ev, pv

U = 1231
T0, T25 = "2021-01-01 00:00:00", "2021-01-01 00:25:00"
DAY = {"period": "day", "date": "2021-01-01"}
DOCS = "https://plausible.io/docs/stats-api"


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
    # -- feature access (Plausible's plans aside: internal prop keys work) -------
    _bd(
        "can break down by an internal prop key without access to the props feature",
        [],
        {"property": "event:props:path"},
        [],
    ),
    {  # Plausible's default period (30d up to today): per-event rows are kept for it
        **_bd(
            "can filter by an internal prop key without access to the props feature",
            [],
            {},
            [],
        ),
        "params": {"property": "visit:source", "filters": "event:props:url==whatever"},
    },
    # -- param validation ------------------------------------------------------
    _bd_rejected(
        "time_on_page is not supported in breakdown queries other than by event:page",
        {"property": "visit:source", "filters": "event:page==/A", "metrics": "time_on_page"},
        "Metric `time_on_page` is not supported in breakdown queries (except `event:page` "
        "breakdown)",
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
        ingest_values={"https://ref.com": "ref.com"},
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
    ),
    _simple(
        "breakdown by visit:os",
        "os",
        "visit:os",
        "Mac",
        "Windows",
        [{"os": "Mac", "visitors": 2}, {"os": "Windows", "visitors": 1}],
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

LIMIT = "Please provide limit as a number between 1 and 1000."
SOURCES_OF = [
    pv(
        path="/",
        source="Twitter",
        utm_medium="Twitter",
        utm_source="Twitter",
        utm_campaign="Twitter",
        user=U,
    ),
    pv(path="/plausible.io", user=U),
    pv(
        path="/plausible.io",
        source="Google",
        utm_medium="Google",
        utm_source="Google",
        utm_campaign="Google",
    ),
    pv(
        path="/plausible.io",
        source="Google",
        utm_medium="Google",
        utm_source="Google",
        utm_campaign="Google",
    ),
]
IN_PAGES = [
    pv(path="/ignore", ts=T0),
    pv(path="/plausible.io", ts=T0),
    pv(path="/plausible.io", ts=T0),
    pv(path="/important-page", ts=T0),
]
ABC = [pv(path="/a", ts=T0), pv(path="/b", ts=T25), pv(path="/c", ts=T0)]
BROWSER_PROPS = [
    pv(browser="Chrome", props={"browser": "Chrome"}, ts=T0),
    pv(browser="Chrome", props={"browser": "Chrome"}, ts=T0),
    pv(browser="Safari", props={"browser": "Safari"}, ts=T0),
    pv(browser="Firefox", props={"browser": "Firefox"}, ts=T0),
]

CASES += [
    # -- breakdown by event:goal ------------------------------------------------------
    _bd(
        "returns custom event goals and pageview goals",
        [
            pv(path="/test", ts="2021-01-01 00:00:01"),
            ev("Purchase", ts="2021-01-01 00:00:03"),
            ev("Purchase", ts="2021-01-01 00:00:03"),
        ],
        {"property": "event:goal"},
        [{"goal": "Purchase", "visitors": 2}, {"goal": "Visit /test", "visitors": 1}],
        goals=["event:Purchase", "page:/test"],
    ),
    _bd(
        "returns pageview goals containing wildcards",
        [
            pv(path="/blog", user=U),
            pv(path="/blog/post-1", user=U),
            pv(path="/blog/post-2", user=U),
            pv(path="/blog/something/post"),
            pv(path="/different/page/post"),
        ],
        {"metrics": "visitors,pageviews", "property": "event:goal"},
        [
            {"goal": "Visit /**/post", "visitors": 2, "pageviews": 2},
            {"goal": "Visit /blog**", "visitors": 2, "pageviews": 4},
        ],
        goals=["page:/**/post", "page:/blog**"],
    ),
    _bd(
        "does not return goals that are not configured for the site",
        [pv(path="/register"), ev("Signup")],
        {"metrics": "visitors,pageviews", "property": "event:goal"},
        [],
    ),
    # -- filtering ------------------------------------------------------------------
    _bd_rejected(
        "event:goal filter returns 400 when goal not configured",
        {"property": "event:page", "filters": "event:goal==Register"},
        "The goal `Register` is not configured for this site. Find out how",
        exact=False,
    ),
    _bd_rejected(
        "validates that filters are valid",
        {"property": "event:page", "filters": "badproperty==bar"},
        "Invalid filter property 'badproperty'. "
        f"Please provide a valid filter property: {DOCS}#properties",
    ),
    _bd(
        "event:page filter for breakdown by session props",
        [
            pv(path="/ignore", browser="Chrome", ts=T0),
            pv(path="/plausible.io", browser="Chrome", ts=T0),
            pv(path="/plausible.io", browser="Chrome", ts=T25),
            pv(path="/plausible.io", browser="Safari", ts=T0),
        ],
        {"property": "visit:browser", "filters": "event:page==/plausible.io"},
        [{"browser": "Chrome", "visitors": 2}, {"browser": "Safari", "visitors": 1}],
    ),
    {
        **_bd(
            "event:page filter shows sources of sessions that have visited that page",
            SOURCES_OF,
            {"property": "visit:source", "filters": "event:page==/plausible.io"},
            [{"source": "Google", "visitors": 2}, {"source": "Twitter", "visitors": 1}],
        ),
        "variants": [
            {
                "params": {"property": f"visit:{p}"},
                "results": [{p: "Google", "visitors": 2}, {p: "Twitter", "visitors": 1}],
            }
            for p in ("utm_medium", "utm_source", "utm_campaign")
        ],
    },
    _bd(
        "top sources for a custom goal and filtered by hostname",
        [
            pv(hostname="blog.example.com", source="Facebook", user=U),
            pv(hostname="app.example.com", path="/register", user=U),
            ev("Signup", hostname="app.example.com", path="/register", user=U),
        ],
        {"property": "visit:source", "filters": "event:hostname==app.example.com"},
        [],
    ),
    _bd(
        "top sources for a custom goal and filtered by hostname (2)",
        [
            pv(hostname="app.example.com", source="Facebook", path="/register", user=U),
            ev("Signup", hostname="app.example.com", path="/register", user=U),
        ],
        {"property": "visit:source", "filters": "event:hostname==app.example.com"},
        [{"source": "Facebook", "visitors": 1}],
    ),
    _bd(
        "event:page filter is interpreted as entry_page filter only for bounce_rate",
        [
            pv(browser="Chrome", user=U, path="/ignore", ts=T0),
            pv(browser="Chrome", user=U, path="/plausible.io", ts="2021-01-01 00:01:00"),
            pv(browser="Chrome", user=456, path="/important-page", ts=T0),
            pv(browser="Chrome", user=456, path="/", ts="2021-01-01 00:01:00"),
            pv(browser="Chrome", path="/plausible.io", ts="2021-01-01 00:01:00"),
        ],
        {
            "metrics": "visitors,bounce_rate",
            "property": "visit:browser",
            "filters": "event:page == /plausible.io|/important-page",
        },
        [{"browser": "Chrome", "bounce_rate": 50, "visitors": 3}],
    ),
    _bd(
        "event:goal pageview filter for breakdown by visit source",
        [
            pv(source="Bing", ts=T0),
            pv(source="Google", user=U, ts=T0),
            pv(path="/plausible.io", user=U, ts=T0),
        ],
        {"property": "visit:source", "filters": "event:goal == Visit /plausible.io"},
        [{"source": "Google", "visitors": 1}],
        goals=["page:/plausible.io"],
    ),
    _bd(
        "event:goal custom event filter for breakdown by visit source",
        [pv(source="Bing", ts=T0), pv(source="Google", user=U, ts=T0), ev("Register", user=U)],
        {"property": "visit:source", "filters": "event:goal == Register"},
        [{"source": "Google", "visitors": 1}],
        goals=["event:Register"],
    ),
    _bd(
        "wildcard pageview goal filter for breakdown by event:page",
        [
            pv(path="/en/register"),
            pv(path="/en/register", user=U),
            pv(path="/en/register", user=U),
            pv(path="/123/it/register"),
            pv(path="/should-not-appear"),
        ],
        {
            "metrics": "visitors,pageviews",
            "property": "event:page",
            "filters": "event:goal==Visit /**register",
        },
        [
            {"page": "/en/register", "visitors": 2, "pageviews": 3},
            {"page": "/123/it/register", "visitors": 1, "pageviews": 1},
        ],
        goals=["page:/**register"],
    ),
    _bd(
        "mixed multi-goal filter for breakdown by visit:country",
        [
            pv(country="EE", path="/en/register"),
            ev("Signup", country="EE", path="/en/register"),
            pv(country="US", path="/123/it/register"),
            pv(country="US", path="/different"),
        ],
        {
            "metrics": "visitors,pageviews,events",
            "property": "visit:country",
            "filters": "event:goal==Signup|Visit /**register",
        },
        [
            {"country": "EE", "visitors": 2, "pageviews": 1, "events": 2},
            {"country": "US", "visitors": 1, "pageviews": 1, "events": 1},
        ],
        goals=["page:/**register", "event:Signup"],
    ),
    _bd(
        "event:goal custom event filter for breakdown by event page",
        [
            ev("Register", path="/en/register"),
            ev("Register", path="/en/register"),
            ev("Register", path="/it/register"),
        ],
        {"property": "event:page", "filters": "event:goal == Register"},
        [{"page": "/en/register", "visitors": 2}, {"page": "/it/register", "visitors": 1}],
        goals=["event:Register"],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "IN filter for event:page",
        IN_PAGES,
        {"property": "event:page", "filters": "event:page == /plausible.io|/important-page"},
        [{"page": "/plausible.io", "visitors": 2}, {"page": "/important-page", "visitors": 1}],
    ),
    _bd(
        "IN filter for visit:browser",
        [
            pv(path="/ignore", browser="Firefox", ts=T0),
            pv(path="/plausible.io", browser="Chrome", ts=T0),
            pv(path="/plausible.io", browser="Safari", ts=T0),
            pv(path="/important-page", browser="Safari", ts=T0),
        ],
        {"property": "event:page", "filters": "visit:browser == Chrome|Safari"},
        [{"page": "/plausible.io", "visitors": 2}, {"page": "/important-page", "visitors": 1}],
    ),
    _bd(
        "IN filter for visit:entry_page",
        IN_PAGES,
        {
            "property": "event:page",
            "filters": "event:page == /plausible.io|/important-page",
            "metrics": "bounce_rate",
        },
        [
            {"page": "/important-page", "bounce_rate": 100},
            {"page": "/plausible.io", "bounce_rate": 100},
        ],
    ),
    _bd(
        "IN filter for event:name",
        [ev("Signup", ts=T0), ev("Signup", ts=T0), ev("Login", ts=T0), ev("Irrelevant", ts=T0)],
        {"property": "event:name", "filters": "event:name == Signup|Login"},
        [{"name": "Signup", "visitors": 2}, {"name": "Login", "visitors": 1}],
    ),
    _bd(
        "IN filter for event:props:*",
        BROWSER_PROPS,
        {"property": "visit:browser", "filters": "event:props:browser == Chrome|Safari"},
        [{"browser": "Chrome", "visitors": 2}, {"browser": "Safari", "visitors": 1}],
    ),
    _bd(
        "Multiple event:props:* filters",
        [
            pv(browser="Chrome", props={"browser": "Chrome"}, ts=T0),
            pv(browser="Chrome", props={"browser": "Chrome", "prop": "xyz"}, ts=T0),
            pv(browser="Safari", props={"browser": "Safari", "prop": "target_value"}, ts=T0),
            pv(browser="Firefox", props={"browser": "Firefox", "prop": "target_value"}, ts=T0),
        ],
        {
            "property": "visit:browser",
            "filters": "event:props:browser == Chrome|Safari;event:props:prop == target_value",
        },
        [{"browser": "Safari", "visitors": 1}],
    ),
    _bd(
        "IN filter for event:props:* including (none) value",
        [*BROWSER_PROPS[:2], pv(browser="Safari", ts=T0), BROWSER_PROPS[3]],
        {"property": "visit:browser", "filters": "event:props:browser == Chrome|(none)"},
        [{"browser": "Chrome", "visitors": 2}, {"browser": "Safari", "visitors": 1}],
    ),
    _bd(
        "can use a is_not filter",
        [pv(browser="Chrome"), pv(browser="Safari"), pv(browser="Safari"), pv(browser="Edge")],
        {"filters": "visit:browser != Chrome", "property": "visit:browser"},
        [{"browser": "Safari", "visitors": 2}, {"browser": "Edge", "visitors": 1}],
        ingest_values={"Edge": "Microsoft Edge"},
    ),
    # -- pagination -----------------------------------------------------------------
    {
        **_bd("can limit results", ABC, {"property": "event:page", "limit": 2}, []),
        "results": None,
        "count": 2,
    },
    {
        **_bd(
            "does not repeat results",
            [pv(props={"item": i}) for i in ("apple", "kiwi", "pineapple", "grapes")],
            {"metrics": "visitors", "property": "event:props:item", "limit": 3},
            [],
        ),
        "results": None,
        "distinct_pages": ("item", 2),
        "rows": 4,
    },
    _bd_rejected(
        "returns error when limit too large", {"property": "event:page", "limit": 1001}, LIMIT
    ),
    _bd_rejected(
        "returns error with non-integer limit",
        {"property": "event:page", "limit": "bad_limit"},
        LIMIT,
    ),
    _bd_rejected(
        "returns error with negative integer limit", {"property": "event:page", "limit": -1}, LIMIT
    ),
    {
        **_bd("can paginate results", ABC, {"property": "event:page", "limit": 2, "page": 2}, []),
        "results": None,
        "count": 1,
    },
    # -- metrics --------------------------------------------------------------------
    _bd(
        "returns conversion_rate in an event:goal breakdown",
        [ev("Signup", user=1), ev("Signup", user=1), pv(path="/blog"), pv(path="/blog/post"), pv()],
        {"property": "event:goal", "metrics": "visitors,events,conversion_rate"},
        [
            {"goal": "Visit /blog**", "visitors": 2, "events": 2, "conversion_rate": 50},
            {"goal": "Signup", "visitors": 1, "events": 2, "conversion_rate": 25},
        ],
        goals=["event:Signup", "page:/blog**"],
    ),
    _bd(
        "returns conversion_rate alone in an event:goal breakdown",
        [ev("Signup", user=1), pv()],
        {"property": "event:goal", "metrics": "conversion_rate"},
        [{"goal": "Signup", "conversion_rate": 50}],
        goals=["event:Signup"],
    ),
    _bd(
        "returns conversion_rate in a goal filtered custom prop breakdown",
        [
            pv(path="/blog/1", props={"author": "Uku"}),
            pv(path="/blog/2", props={"author": "Uku"}),
            pv(path="/blog/3", props={"author": "Uku"}),
            pv(path="/blog/1", props={"author": "Marko"}),
            pv(path="/blog/2", props={"author": "Marko"}, user=1),
            pv(path="/blog/3", props={"author": "Marko"}, user=1),
            pv(path="/blog"),
            pv(props={"author": "Marko"}),
            pv(),
        ],
        {
            "property": "event:props:author",
            "filters": "event:goal==Visit /blog**",
            "metrics": "visitors,events,conversion_rate",
        },
        [
            {"author": "Uku", "visitors": 3, "events": 3, "conversion_rate": 37.5},
            {"author": "Marko", "visitors": 2, "events": 3, "conversion_rate": 25},
            {"author": "(none)", "visitors": 1, "events": 1, "conversion_rate": 12.5},
        ],
        goals=["page:/blog**"],
    ),
    _bd(
        "returns conversion_rate alone in a goal filtered custom prop breakdown",
        [pv(path="/blog/1", props={"author": "Uku"}), pv()],
        {
            "property": "event:props:author",
            "filters": "event:goal==Visit /blog**",
            "metrics": "conversion_rate",
        },
        [{"author": "Uku", "conversion_rate": 50}],
        goals=["page:/blog**"],
    ),
    _bd(
        "returns conversion_rate in a goal filtered event:page breakdown",
        [
            pv(path="/en/register"),
            ev("Signup", path="/en/register"),
            ev("Signup", path="/en/register"),
            ev("Signup", path="/it/register", user=1),
            ev("Signup", path="/it/register", user=1),
            pv(path="/it/register"),
        ],
        {
            "property": "event:page",
            "filters": "event:goal==Signup",
            "metrics": "visitors,events,conversion_rate",
        },
        [
            {"page": "/en/register", "visitors": 2, "events": 2, "conversion_rate": 66.7},
            {"page": "/it/register", "visitors": 1, "events": 2, "conversion_rate": 50},
        ],
        goals=["event:Signup"],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "returns conversion_rate alone in a goal filtered event:page breakdown",
        [pv(path="/en/register"), ev("Signup", path="/en/register")],
        {"property": "event:page", "filters": "event:goal==Signup", "metrics": "conversion_rate"},
        [{"page": "/en/register", "conversion_rate": 50}],
        goals=["event:Signup"],
        differs=PAGE_OF_EVENTS,
    ),
    _bd(
        "returns conversion_rate in a multi-goal filtered visit:screen_size breakdown",
        [
            pv(screen="Mobile"),
            ev("AddToCart", screen="Mobile"),
            ev("AddToCart", screen="Mobile"),
            ev("AddToCart", screen="Desktop", user=1),
            ev("Purchase", screen="Desktop", user=1),
            pv(screen="Desktop"),
        ],
        {
            "property": "visit:device",
            "filters": "event:goal==AddToCart|Purchase",
            "metrics": "visitors,events,conversion_rate",
        },
        [
            {"device": "Mobile", "visitors": 2, "events": 2, "conversion_rate": 66.7},
            {"device": "Desktop", "visitors": 1, "events": 2, "conversion_rate": 50},
        ],
        goals=["event:Purchase", "event:AddToCart"],
    ),
    _bd(
        "returns conversion_rate alone in a goal filtered visit:screen_size breakdown",
        [pv(screen="Mobile"), ev("AddToCart", screen="Mobile")],
        {
            "property": "visit:device",
            "filters": "event:goal==AddToCart",
            "metrics": "conversion_rate",
        },
        [{"device": "Mobile", "conversion_rate": 50}],
        goals=["event:AddToCart"],
    ),
    _bd(
        "all metrics for breakdown by visit prop",
        [
            pv(user=1, source="Google", ts=T0),
            ev("signup", user=1, source="Google", ts="2021-01-01 00:05:00"),
            pv(user=1, source="Google", ts="2021-01-01 00:10:00"),
            pv(source="Google", ts=T25),
            pv(source="Twitter", ts=T0),
        ],
        {
            "property": "visit:source",
            "metrics": "visitors,visits,pageviews,events,bounce_rate,visit_duration",
        },
        [
            {
                "source": "Google",
                "visitors": 2,
                "visits": 2,
                "bounce_rate": 50,
                "visit_duration": 300,
                "pageviews": 3,
                "events": 4,
            },
            {
                "source": "Twitter",
                "visitors": 1,
                "visits": 1,
                "bounce_rate": 100,
                "visit_duration": 0,
                "pageviews": 1,
                "events": 1,
            },
        ],
    ),
    _bd(
        "metrics=bounce_rate does not add visits to the response",
        [
            pv(user=1, path="/entry-page-1", ts=T0),
            pv(user=1, path="/some-page", ts="2021-01-01 00:10:00"),
            pv(user=2, path="/entry-page-2", source="Google", ts="2021-01-01 00:05:00"),
        ],
        {"property": "visit:entry_page", "metrics": "bounce_rate"},
        [
            {"entry_page": "/entry-page-2", "bounce_rate": 100},
            {"entry_page": "/entry-page-1", "bounce_rate": 0},
        ],
    ),
    _bd(
        "filter by custom event property",
        [
            ev("Purchase", props={"package": "business"}, browser="Chrome", ts=T0),
            ev("Purchase", props={"package": "business"}, browser="Safari", ts=T0),
            ev("Purchase", props={"package": "business"}, browser="Safari", ts=T25),
            ev("Purchase", props={"package": "personal"}, browser="IE", ts=T25),
        ],
        {
            "property": "visit:browser",
            "filters": "event:name==Purchase;event:props:package==business",
        },
        [{"browser": "Safari", "visitors": 2}, {"browser": "Chrome", "visitors": 1}],
    ),
    _bd(
        "all metrics for breakdown by event prop",
        [
            pv(user=1, path="/", ts=T0),
            pv(user=1, path="/plausible.io", ts="2021-01-01 00:10:00"),
            pv(path="/", ts=T25),
            pv(path="/plausible.io", ts=T0),
        ],
        {
            "property": "event:page",
            "metrics": "visitors,pageviews,events,bounce_rate,visit_duration",
        },
        [
            {
                "page": "/",
                "visitors": 2,
                "bounce_rate": 50,
                "visit_duration": 300,
                "pageviews": 2,
                "events": 2,
            },
            {
                "page": "/plausible.io",
                "visitors": 2,
                "bounce_rate": 100,
                "visit_duration": 0,
                "pageviews": 2,
                "events": 2,
            },
        ],
    ),
]
