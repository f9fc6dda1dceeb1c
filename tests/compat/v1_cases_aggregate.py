"""Ported from Plausible's test/plausible_web/controllers/api/
external_stats_controller/aggregate_test.exs.

Each case: `events` (Plausible's factory attributes, see plausible_seed),
`goals` ("event:NAME", "page:PATH", or a table's keys), the GET `params`
(site_id is added), and what Plausible's test asserts (`results`, or
`status` + `error` / `error_contains`). `endpoint` defaults to aggregate.
Plausible's events without a timestamp are "now" and its requests without a
date ask for today; here both are 2021-01-01 (moved into our window like
every date). `differs` says why our answer is not Plausible's (README table).
"""

from __future__ import annotations

from typing import Any

from tests.compat.v2_cases_engagement import eg
from tests.compat.v2_cases_filters import SCHEMELESS, ev, pv

U = 1231  # Plausible's @user_id
T0, T25 = "2021-01-01 00:00:00", "2021-01-01 00:25:00"
DAY = {"period": "day", "date": "2021-01-01"}
FOUR = "pageviews,visitors,bounce_rate,visit_duration"
ONE_VISIT = {
    "pageviews": {"value": 2},
    "visitors": {"value": 1},
    "bounce_rate": {"value": 0},
    "visit_duration": {"value": 1500},
}
# Reasons shared by several cases (the README's table groups them).
SESSION_EXTRA = (
    "we answer session metrics with event filters (the visits that had such an event; "
    "the dashboard's cards ask for them), where Plausible refuses"
)
SCROLL_DEPTH_V1 = (
    "scroll_depth is a metric of our v1 too (as of v2: per page, a breakdown by event:page or "
    "an event:page filter), so without a page it is that 400; Plausible's v1 does not know it"
)
HOSTNAME = (
    "event:hostname filters the visit's hostname here (where it entered); Plausible's "
    "filters the events' own"
)
PAGE_OF_EVENTS = (
    "event:page is the page of page views only here; Plausible's custom events have a page too"
)


def _rejected(
    name: str, params: dict[str, Any], error: str, exact: bool = True, **extra: Any
) -> dict[str, Any]:
    """A 400 with Plausible's message (`exact`), or one containing it (its
    test matches a part)."""
    said = {"error": error} if exact else {"error_contains": error}
    return {"name": name, "events": [], "params": params, "status": 400, **said, **extra}


def _values(**metrics: Any) -> dict[str, Any]:
    return {m: {"value": v} for m, v in metrics.items()}


def _session_filter(name: str, attr: dict[str, Any], flt: str, **extra: Any) -> dict[str, Any]:
    """Plausible's "can filter by X": a two-page visit with the attribute,
    and one other visitor without it."""
    return {
        "name": name,
        "events": [pv(user=U, ts=T0, **attr), pv(user=U, ts=T25), pv(ts=T0)],
        "params": {**DAY, "metrics": FOUR, "filters": flt},
        "results": ONE_VISIT,
        **extra,
    }


def _visitors(name: str, events: list[dict[str, Any]], filters: str, n: int) -> dict[str, Any]:
    return {
        "name": name,
        "events": events,
        "params": {**DAY, "metrics": "visitors", "filters": filters},
        "results": _values(visitors=n),
    }


def _session_metric_with(prop: str) -> dict[str, Any]:
    return _rejected(
        f"validates that session metrics cannot be used with {prop} filter",
        {"period": "30d", "metrics": "pageviews,visit_duration", "filters": f"{prop}==some_value"},
        f"Session metric `visit_duration` cannot be queried when using a filter on `{prop}`.",
        goals=["event:some_value"] if prop == "event:goal" else [],
        differs=SESSION_EXTRA,
    )


TWO_VISITS = [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(ts=T0)]
PAGES_EN = [pv(path="/en/page1"), pv(path="/en/page2"), pv(path="/pl/page1")]
STAR_PAGES = [pv(path=p) for p in ("/en*", "/en*/page1", "/en*/page2", "/ena/page2", "/pll/page1")]
TIERS = [pv(props={"tier": t}) for t in ("large-1", "small-1", "small-1", "small-2")]
BLOG = [pv(path="/blog/post-1"), pv(path="/blog/post-2", user=U), pv(path="/blog", user=U), pv()]
SIGNUPS = [
    ev("Signup", ts=T0),
    ev("Signup", user=U, ts=T25),
    ev("Signup", user=U, ts=T25),
]

CASES: list[dict[str, Any]] = [
    # -- feature access (Plausible's plans aside: internal prop keys work) -------
    {
        "name": "can filter by an internal prop key without access to the props feature",
        "events": [],
        "params": {"filters": "event:props:url==https://site.com"},
        "results": _values(visitors=0),
    },
    # -- param validation ------------------------------------------------------
    _rejected(
        "validates that date can be parsed",
        {"period": "month", "date": "2021-dkjbAS", "metrics": "pageviews"},
        "Error parsing `date` parameter: invalid_format. "
        "Please specify a valid date in ISO-8601 format.",
    ),
    {
        "name": "ignores a given property parameter",
        "events": [],
        "params": {"property": "event:props:author", "metrics": "visit_duration"},
        "status": 200,
    },
    _rejected(
        "validates that period can be parsed",
        {"period": "aosuhsacp", "metrics": "pageviews"},
        "Error parsing `period` parameter: invalid period `aosuhsacp`. "
        "Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods",
    ),
    _rejected(
        "custom period is not valid without a date",
        {"period": "custom", "metrics": "pageviews"},
        "The `date` parameter is required when using a custom period. "
        "See https://plausible.io/docs/stats-api#time-periods",
    ),
    _rejected(
        "validates date format in custom period",
        {"period": "custom", "date": "2020-131-2piaskj,s,a90uac", "metrics": "pageviews"},
        "Invalid format for `date` parameter. When using a custom period, please include two "
        "ISO-8601 formatted dates joined by a comma. "
        "See https://plausible.io/docs/stats-api#time-periods",
    ),
    _rejected(
        "validates that metrics are all recognized",
        {"period": "30d", "metrics": "pageviews,led_zeppelin"},
        "The metric `led_zeppelin` is not recognized. "
        "Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics",
    ),
    _rejected(
        "scroll depth metric is not recognized in the legacy API v1",
        {"period": "30d", "metrics": "scroll_depth"},
        "The metric `scroll_depth` is not recognized. "
        "Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics",
        differs=SCROLL_DEPTH_V1,
    ),
    _session_metric_with("event:name"),
    _session_metric_with("event:goal"),
    _session_metric_with("event:props:custom_prop"),
    _rejected(
        "validates that conversion_rate cannot be queried without a goal filter",
        {"metrics": "conversion_rate"},
        "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter",
        exact=False,
    ),
    _rejected(
        "validates that views_per_visit cannot be used with event:page filter",
        {"filters": "event:page==/something", "metrics": "views_per_visit"},
        "Metric `views_per_visit` cannot be queried with a filter on `event:page`.",
        differs=SESSION_EXTRA,
    ),
    _rejected(
        "validates that views_per_visit cannot be used with an event only filter",
        {"filters": "event:name==Something", "metrics": "views_per_visit"},
        "Session metric `views_per_visit` cannot be queried when using a filter on `event:name`.",
        differs=SESSION_EXTRA,
    ),
    _rejected(
        "validates a metric isn't asked multiple times",
        {"metrics": "visitors,visitors"},
        "Metrics cannot be queried multiple times.",
    ),
    _rejected(
        "validates that time_on_page cannot be queried without a page filter",
        {"metrics": "time_on_page"},
        "Metric `time_on_page` can only be queried in a page breakdown or with a page filter.",
    ),
    _rejected(
        "validates that time_on_page cannot be queried with a goal filter",
        {"metrics": "time_on_page", "filters": "event:page==/A;event:goal==Signup"},
        "Metric `time_on_page` cannot be queried when filtering by `event:goal`",
        goals=["event:Signup"],
    ),
    _rejected(
        "validates that time_on_page cannot be queried with an event:name filter",
        {"metrics": "time_on_page", "filters": "event:page==/A;event:name==Signup"},
        "Metric `time_on_page` cannot be queried when filtering by `event:name`",
    ),
    # -- metrics ----------------------------------------------------------------
    {  # engaged time per visit that sent the page an engagement event
        "name": "time_on_page with a page filter",
        "events": [
            pv(path="/A", user=123, ts=T0),
            eg(path="/A", user=123, ts="2021-01-01 00:01:00", engagement_time=60_000),
            pv(path="/another", user=123, ts="2021-01-01 00:01:00"),
            pv(path="/A", user=321, ts=T0),
            eg(path="/A", user=321, ts="2021-01-01 00:01:20", engagement_time=80_000),
            pv(path="/another", user=321, ts="2021-01-01 00:01:20"),
            pv(path="/A", ts=T0),
        ],
        "params": {**DAY, "metrics": "time_on_page", "filters": "event:page==/A"},
        "results": _values(time_on_page=70),
    },
    {
        "name": "time_on_page is returned as `nil` if it cannot be calculated",
        "events": [pv(path="/A")],
        "params": {"metrics": "time_on_page", "filters": "event:page==/A"},
        "results": _values(time_on_page=None),
    },
    {
        "name": "aggregates a single metric",
        "events": TWO_VISITS,
        "params": {**DAY, "metrics": "pageviews"},
        "results": _values(pageviews=3),
    },
    {
        "name": "rounds views_per_visit to two decimal places",
        "events": [*TWO_VISITS[:2], pv(user=456, ts=T0), pv(user=456, ts=T25), pv(ts=T0)],
        "params": {**DAY, "metrics": "views_per_visit"},
        "results": _values(views_per_visit=1.67),
    },
    {
        "name": "aggregates all metrics in a single query",
        "events": TWO_VISITS,
        "params": {
            **DAY,
            "metrics": "pageviews,visits,views_per_visit,visitors,bounce_rate,visit_duration",
        },
        "results": _values(
            pageviews=3,
            visitors=2,
            visits=2,
            views_per_visit=1.5,
            bounce_rate=50,
            visit_duration=750,
        ),
    },
    {
        "name": "compare period=day with previous period",
        "events": [pv(ts="2020-12-31 00:00:00"), *TWO_VISITS],
        "params": {**DAY, "metrics": FOUR, "compare": "previous_period"},
        "results": {
            "pageviews": {"value": 3, "change": 200, "comparison_value": 1},
            "visitors": {"value": 2, "change": 100, "comparison_value": 1},
            "bounce_rate": {"value": 50, "change": -50, "comparison_value": 100},
            "visit_duration": {"value": 750, "change": 100, "comparison_value": 0},
        },
    },
    {
        "name": "can compare conversion_rate with previous period",
        "events": [
            ev("Signup", ts="2023-05-04 12:00:00"),
            pv(ts="2023-05-04 12:00:00"),
            pv(ts="2023-05-04 12:00:00"),
            ev("Signup", ts="2023-05-05 12:00:00"),
            pv(ts="2023-05-05 12:00:00"),
        ],
        "goals": [{"event": "Signup", "name": "Signup Display Name"}],
        "params": {
            "period": "day",
            "date": "2023-05-05",
            "metrics": "conversion_rate",
            "filters": "event:goal==Signup Display Name",
            "compare": "previous_period",
        },
        "results": {"conversion_rate": {"value": 50.0, "change": 16.7, "comparison_value": 33.33}},
    },
    # -- filters ----------------------------------------------------------------
    _rejected(
        "event:goal filter returns 400 when goal not configured",
        {"filters": "event:goal==Register|Visit /register"},
        "The goal `Register` is not configured for this site. Find out how",
        exact=False,
    ),
    _rejected(
        "validates that filters are valid",
        {"property": "event:page", "filters": "badproperty==bar"},
        "Invalid filter property 'badproperty'. "
        "Please provide a valid filter property: https://plausible.io/docs/stats-api#properties",
    ),
    _session_filter("can filter by source", {"source": "Google"}, "visit:source==Google"),
    {
        "name": "can filter by no source/referrer",
        "events": [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(source="Google", ts=T0)],
        "params": {**DAY, "metrics": FOUR, "filters": "visit:source==Direct / None"},
        "results": ONE_VISIT,
    },
    _session_filter(
        "can filter by referrer",
        {"referrer": "https://facebook.com"},
        "visit:referrer==https://facebook.com",
        ingest_values=SCHEMELESS,
    ),
    _visitors(
        "wildcard referrer filter with special regex characters",
        [pv(referrer="https://a.com"), pv(referrer="https://a.com"), pv(referrer="https://ab.com")],
        "visit:referrer==**a.com**",
        2,
    ),
    _session_filter(
        "can filter by utm_medium", {"utm_medium": "social"}, "visit:utm_medium==social"
    ),
    _session_filter(
        "can filter by utm_source", {"utm_source": "Twitter"}, "visit:utm_source==Twitter"
    ),
    _session_filter(
        "can filter by utm_campaign", {"utm_campaign": "profile"}, "visit:utm_campaign==profile"
    ),
    _session_filter(
        "can filter by device type",
        {"screen": "Desktop"},
        "visit:device==Desktop",
    ),
    _session_filter("can filter by browser", {"browser": "Chrome"}, "visit:browser==Chrome"),
    _session_filter(
        "can filter by browser version",
        {"browser": "Chrome", "browser_version": "56"},
        "visit:browser_version==56",
        ingest_values={"56": "56.0"},
    ),
    _session_filter(
        "can filter by operating system",
        {"os": "Mac"},
        "visit:os==Mac",
    ),
    _session_filter(
        "can filter by operating system version", {"os_version": "10.5"}, "visit:os_version==10.5"
    ),
    _session_filter("can filter by country", {"country": "EE"}, "visit:country==EE"),
    {
        "name": "can filter by page",
        "events": [
            pv(user=U, ts=T0),
            pv(user=U, path="/blogpost", ts=T25),
            pv(ts=T0),
            pv(path="/blogpost", ts=T0),
        ],
        "params": {**DAY, "metrics": FOUR, "filters": "event:page==/blogpost"},
        "results": _values(pageviews=2, visitors=2, bounce_rate=100, visit_duration=750),
    },
    {
        "name": "can filter by hostname",
        "events": [
            pv(hostname="one.example.com", ts=T0),
            pv(hostname="example.com", ts=T25),
            pv(ts=T0),
        ],
        "params": {**DAY, "metrics": FOUR, "filters": "event:hostname==*.example.com|example.com"},
        "results": _values(pageviews=2, visitors=2, bounce_rate=100, visit_duration=0),
    },
    {
        "name": "filtering by event:name",
        "events": [*SIGNUPS, pv(ts=T0)],
        "params": {**DAY, "metrics": "visitors,pageviews", "filters": "event:name==Signup"},
        "results": _values(pageviews=0, visitors=2),
    },
    {
        "name": "filtering by a custom event goal",
        "events": [*SIGNUPS, ev("NotConfigured", ts=T25)],
        "goals": ["event:Signup"],
        "params": {**DAY, "metrics": "visitors,events", "filters": "event:goal==Signup"},
        "results": _values(visitors=2, events=3),
    },
    {
        "name": "filtering by a revenue goal",
        "events": [
            ev("Purchase", ts=T0),
            ev("Purchase", user=U, ts=T25),
            ev("Purchase", user=U, ts=T25),
        ],
        "goals": ["event:Purchase"],
        "params": {**DAY, "metrics": "visitors,events", "filters": "event:goal==Purchase"},
        "results": _values(visitors=2, events=3),
    },
    {
        "name": "filtering by a simple pageview goal",
        "events": [
            pv(path="/register", ts=T0),
            pv(path="/register", user=U, ts=T25),
            pv(path="/register", user=U, ts=T25),
            pv(path="/", ts=T25),
        ],
        "goals": ["page:/register"],
        "params": {
            **DAY,
            "metrics": "visitors,pageviews",
            "filters": "event:goal==Visit /register",
        },
        "results": _values(visitors=2, pageviews=3),
    },
    {
        "name": "filtering by a wildcard pageview goal",
        "events": BLOG,
        "goals": ["page:/blog**"],
        "params": {**DAY, "metrics": "visitors,pageviews", "filters": "event:goal==Visit /blog**"},
        "results": _values(visitors=2, pageviews=3),
    },
    {
        "name": "filtering by multiple custom event goals",
        "events": [ev("Signup"), ev("Purchase", user=U), ev("Purchase", user=U), pv()],
        "goals": ["event:Signup", "event:Purchase"],
        "params": {**DAY, "metrics": "visitors,events", "filters": "event:goal==Signup|Purchase"},
        "results": _values(visitors=2, events=3),
    },
    {
        "name": "filtering by multiple mixed goals",
        "events": [
            pv(path="/account/register"),
            pv(path="/register", user=U),
            ev("Signup", user=U),
            pv(),
        ],
        "goals": ["event:Signup", "page:/**register"],
        "params": {
            **DAY,
            "metrics": "visitors,events,pageviews",
            "filters": "event:goal==Signup|Visit /**register",
        },
        "results": _values(visitors=2, events=3, pageviews=2),
    },
    {
        "name": "combining filters",
        "events": [
            pv(path="/blogpost", country="EE", user=U, ts=T0),
            pv(user=U, ts=T25),
            pv(ts=T0),
            pv(path="/blogpost", ts=T0),
        ],
        "params": {**DAY, "metrics": FOUR, "filters": "event:page==/blogpost;visit:country==EE"},
        "results": _values(pageviews=1, visitors=1, bounce_rate=0, visit_duration=1500),
    },
    _visitors("wildcard page filter", PAGES_EN, "event:page==/en/**", 2),
    _visitors("negated wildcard page filter", PAGES_EN, "event:page!=/en/**", 1),
    _visitors(
        "wildcard and member filter combined",
        [*PAGES_EN, pv(path="/ee/page1")],
        "event:page==/en/**|/pl/**",
        3,
    ),
    _visitors(
        "can escape pipe character in member + wildcard filter",
        [pv(path=p) for p in ("/blog/post|1", "/otherpost|1", "/blog/post|2", "/something-else")],
        "event:page==**post\\|1|/something-else",
        3,
    ),
    {
        "name": "handles filtering by visit country",
        "events": [pv(country="EE")] * 3,
        "params": {**DAY, "metrics": "pageviews", "filters": "visit:country==EE"},
        "results": _values(pageviews=3),
    },
    {
        "name": "conversion_rate when goal filter is applied",
        "events": [ev("Signup"), pv()],
        "goals": ["event:Signup"],
        "params": {**DAY, "metrics": "conversion_rate", "filters": "event:goal==Signup"},
        "results": _values(conversion_rate=50),
    },
    {
        "name": "conversion_rate when goal + custom prop filter applied",
        "events": [
            ev("Signup"),
            ev("Signup", props={"author": "Uku"}),
            ev("Signup", props={"author": "Marko"}),
            pv(),
        ],
        "goals": ["event:Signup"],
        "params": {
            **DAY,
            "metrics": "conversion_rate,visitors,events",
            "filters": "event:goal==Signup;event:props:author==Uku",
        },
        "results": _values(conversion_rate=25.0, visitors=1, events=1),
    },
    {
        "name": "conversion_rate when goal + visit property filter applied",
        "events": [
            ev("Signup"),
            ev("Signup", browser="Chrome"),
            ev("Signup", browser="Firefox", user=123),
            ev("Signup", browser="Firefox", user=123),
            pv(browser="Firefox"),
            pv(),
        ],
        "goals": ["event:Signup"],
        "params": {
            **DAY,
            "metrics": "conversion_rate,visitors,events",
            "filters": "visit:browser==Firefox;event:goal==Signup",
        },
        "results": _values(conversion_rate=50.0, visitors=1, events=2),
    },
    {
        "name": "conversion_rate when goal + page filter applied",
        "events": [
            ev("Signup"),
            ev("Signup", path="/not-this"),
            ev("Signup", path="/this", user=123),
            ev("Signup", path="/this", user=123),
            pv(path="/this"),
            pv(),
        ],
        "goals": ["event:Signup"],
        "params": {
            **DAY,
            "metrics": "conversion_rate,visitors,events",
            "filters": "event:page==/this;event:goal==Signup",
        },
        "results": _values(conversion_rate=50.0, visitors=1, events=2),
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "conversion_rate for the filtered goal is 0 when no stats exist",
        "events": [],
        "goals": ["event:Signup"],
        "params": {"metrics": "conversion_rate", "filters": "event:goal==Signup"},
        "results": _values(conversion_rate=0),
    },
    # -- JSON filters (Plausible's v2 filter list, which its v1 takes too) -------
    _visitors("filtering by exact string", STAR_PAGES, '[["is", "event:page", ["/en*"]]]', 1),
    {
        "name": "filtering by goal",
        "events": BLOG,
        "goals": ["page:/blog"],
        "params": {
            **DAY,
            "metrics": "visitors,pageviews",
            "filters": '[["is", "event:goal", ["Visit /blog"]]]',
        },
        "results": _values(visitors=1, pageviews=1),
    },
    {
        "name": "filtering by wildcard goal",
        "events": BLOG,
        "goals": ["page:/blog**"],
        "params": {
            **DAY,
            "metrics": "visitors,pageviews",
            "filters": '[["is", "event:goal", ["Visit /blog**"]]]',
        },
        "results": _values(visitors=2, pageviews=3),
    },
    _visitors("contains", STAR_PAGES, '[["contains", "event:page", ["/en*"]]]', 3),
    _visitors("does not contain", STAR_PAGES, '[["contains_not", "event:page", ["/en*"]]]', 2),
    _visitors(
        "matches custom event property",
        TIERS,
        '[["matches_wildcard", "event:props:tier", ["small*"]]]',
        3,
    ),
    _visitors(
        "not matches_wildcard custom event property",
        [*TIERS, pv()],
        '[["matches_wildcard_not", "event:props:tier", ["small*"]]]',
        1,
    ),
    _visitors(
        "contains custom event property",
        TIERS,
        '[["contains", "event:props:tier", ["small"]]]',
        3,
    ),
    _visitors(
        "contains_not custom event property",
        TIERS,
        '[["contains_not", "event:props:tier", ["small"]]]',
        1,
    ),
]
