"""Ported from Plausible's query_test.exs: time series, breakdowns (one and
several dimensions), order_by, pagination and the returned query.

See v2_cases_filters for the case format.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v2_cases_filters import ALL, T0, T25, U, ev, pv

# Plausible's fixture gives a visit a version but no browser (or OS); its
# ingest never writes that (a user agent without a known browser has no
# version either), nor a Windows "11" (a user agent says "Windows NT 10.0").
VERSION_ALONE = (
    "Plausible's fixture has a version without a browser or OS, and Windows 11: values its "
    "ingest never writes from a user agent (nor ours)"
)
PAGE_OF_EVENTS = (
    "event:page is the page of page views only (the v1 engines' rule); Plausible's is "
    "the page of every event, custom events included"
)
DAY = ["2021-01-01", "2021-01-01"]


def _row(dims: list[Any], metrics: list[Any]) -> dict[str, Any]:
    return {"dimensions": dims, "metrics": metrics}


def _simple_breakdown(dim: str, attr: str, v1: str, v2: str, blank: str, **extra: Any) -> dict:
    """Plausible's "simple breakdown by X" (3, 2 and 1 visitors, with percentage)."""
    times = ["00:00", "00:25", "00:55"]
    events = [pv(ts=f"2021-01-01 {t}:00", **{attr: v1}) for t in times]
    events += [pv(ts=f"2021-01-01 {t}:00", **{attr: v2}) for t in ("01:00", "01:25")]
    events.append(pv(ts=T0))
    return {
        "name": f"simple breakdown by {dim}",
        "events": events,
        "body": {"metrics": ["visitors", "percentage"], "date_range": DAY, "dimensions": [dim]},
        "results": [_row([v1], [3, 50]), _row([v2], [2, 33.3]), _row([blank], [1, 16.7])],
        **extra,
    }


def _by_hostname(dim: str, attr: str) -> dict[str, Any]:
    return {
        "name": f"breakdown by {dim} when filtered by hostname",
        "events": [
            pv(user=U, hostname="two.example.com", ts=T0, **{attr: "ad"}),
            pv(user=U, hostname="one.example.com", ts="2021-01-01 00:15:00"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "filters": [["is", "event:hostname", ["one.example.com"]]],
            "dimensions": [dim],
        },
        "results": [],
    }


HOURS = [f"2021-01-01 {h:02d}:00:00" for h in range(24)]
PAGES_1_8 = [pv(path=f"/{i}") for i in range(1, 9)]
PAGED = {
    **ALL,
    "metrics": ["pageviews"],
    "dimensions": ["event:page"],
    "order_by": [["event:page", "asc"]],
    "include": {"total_rows": True},
}
REVENUE_GOALS = ["event:Purchase", "event:Payment", "event:Subscription", "event:Signup"]
REVENUE_EVENTS = [
    ev("Purchase", revenue={"amount": "100.3", "currency": "USD"}),
    ev("Payment", revenue={"amount": "40.3", "currency": "USD"}),
    ev("Payment", revenue={"amount": "60.6", "currency": "USD"}),
    ev("Subscription", revenue={"amount": "100", "currency": "EUR"}),
    ev("Signup"),
]


def _usd(value: float, long: str, short: str) -> dict[str, Any]:
    return {"currency": "USD", "long": long, "short": short, "value": value}


PURCHASE = _row(["Purchase"], [_usd(100.3, "$100.30", "$100.3")] * 2)
NO_MATCH = {
    m: {
        "code": "no_revenue_goals_matching",
        "warning": "Revenue metrics are null as there are no matching revenue goals.",
    }
    for m in ("average_revenue", "total_revenue")
}
PAGE_AB = [
    ev("Signup", path="/pageA", browser="Chrome"),
    ev("Signup", path="/pageA", browser="Chrome"),
    ev("Signup", path="/pageA", browser="Safari"),
    ev("Signup", path="/pageB", browser="Chrome"),
    pv(path="/pageA", browser="Chrome", ts=T25),
]
CONVERSION_GOALS = [
    "event:Onboarding conversion: Step 1",
    "event:Onboarding conversion: Step 2",
    "event:Unrelated",
    "page:/conversion",
]
CONVERSION_EVENTS = [
    ev("Onboarding conversion: Step 1"),
    ev("Onboarding conversion: Step 1"),
    ev("Onboarding conversion: Step 2"),
    ev("Unrelated"),
    pv(path="/conversion"),
]

CASES: list[dict[str, Any]] = [
    {
        "name": "shows hourly data for a certain date with time_labels",
        "events": [
            pv(user=U, ts=T0),
            pv(user=U, ts="2021-01-01 00:10:00"),
            pv(ts="2021-01-01 23:59:00"),
        ],
        "body": {
            "metrics": ["visitors", "pageviews", "visits", "visit_duration", "bounce_rate"],
            "date_range": DAY,
            "dimensions": ["time:hour"],
            "include": {"time_labels": True},
        },
        "results": [_row([HOURS[0]], [1, 2, 1, 600, 0]), _row([HOURS[23]], [1, 1, 1, 0, 100])],
        "meta": {"time_labels": HOURS},
    },
    {
        "name": "shows a custom range with daily interval",
        "events": [pv(ts=T0), pv(ts=T0), pv(ts="2021-01-02 00:00:00")],
        "body": {
            "metrics": ["visitors"],
            "date_range": ["2021-01-01", "2021-01-02"],
            "dimensions": ["time:day"],
        },
        "results": [_row(["2021-01-01"], [2]), _row(["2021-01-02"], [1])],
    },
    {
        "name": "timeseries with explicit order_by",
        "events": [
            pv(ts=f"2021-01-0{d} 00:00:00")
            for d, n in ((1, 1), (2, 3), (3, 2), (4, 2))
            for _ in range(n)
        ],
        "body": {
            "metrics": ["pageviews"],
            "date_range": ["2020-12-01", "2021-01-04"],
            "dimensions": ["time"],
            "order_by": [["pageviews", "desc"], ["time", "asc"]],
        },
        "results": [
            _row(["2021-01-02"], [3]),
            _row(["2021-01-03"], [2]),
            _row(["2021-01-04"], [2]),
            _row(["2021-01-01"], [1]),
        ],
    },
    {
        "name": "timeseries with quarter-hour timezone",
        "timezone": "Asia/Katmandu",
        "events": [
            pv(ts=f"2021-01-02 {t}:00")
            for t in ("05:00", "05:15", "05:30", "05:45", "06:00", "06:15", "06:30")
        ],
        "body": {
            "metrics": ["visits"],
            "date_range": ["2021-01-02", "2021-01-02"],
            "dimensions": ["time:hour"],
        },
        "results": [
            _row(["2021-01-02 10:00:00"], [1]),
            _row(["2021-01-02 11:00:00"], [4]),
            _row(["2021-01-02 12:00:00"], [2]),
        ],
    },
    {
        "name": "breakdown by visit:source",
        "events": [pv(source="Google", ts=T0), pv(source="Google", ts=T25), pv(ts=T0)],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["visit:source"]},
        "results": [_row(["Google"], [2]), _row(["Direct / None"], [1])],
    },
    {
        "name": "breakdown by visit:channel",
        "events": [pv(source="Google", ts=T0), pv(source="Google", ts=T25), pv(ts=T0)],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["visit:channel"]},
        "results": [_row(["Organic Search"], [2]), _row(["Direct"], [1])],
    },
    {
        "name": "breakdown by visit:country",
        "events": [pv(country="EE", ts=T0), pv(country="EE", ts=T25), pv(country="US", ts=T0)],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["visit:country"]},
        "results": [_row(["EE"], [2]), _row(["US"], [1])],
    },
    _by_hostname("visit:utm_campaign", "utm_campaign"),
    _by_hostname("visit:utm_source", "utm_source"),
    _by_hostname("visit:utm_term", "utm_term"),
    _by_hostname("visit:utm_content", "utm_content"),
    _simple_breakdown("visit:source", "source", "Google", "Twitter", "Direct / None"),
    _simple_breakdown(
        "visit:referrer",
        "referrer",
        "https://example.com",
        "https://google.com",
        "Direct / None",
        ingest_values={"https://example.com": "example.com", "https://google.com": "google.com"},
    ),
    _simple_breakdown("visit:utm_medium", "utm_medium", "Search", "social", "(not set)"),
    _simple_breakdown("visit:utm_source", "utm_source", "Google", "Bing", "(not set)"),
    _simple_breakdown("visit:utm_campaign", "utm_campaign", "ads", "profile", "(not set)"),
    _simple_breakdown("visit:utm_content", "utm_content", "Content1", "blog2", "(not set)"),
    _simple_breakdown("visit:utm_term", "utm_term", "Term1", "favicon", "(not set)"),
    _simple_breakdown(
        "visit:os",
        "os",
        "Mac",
        "Windows",
        "(not set)",
    ),
    _simple_breakdown(
        "visit:browser",
        "browser",
        "Chrome",
        "Safari",
        "(not set)",
    ),
    _simple_breakdown(
        "visit:device",
        "screen",
        "Mobile",
        "Desktop",
        "(not set)",
    ),
    {
        "name": "breakdown by visit:os and visit:os_version",
        "events": [pv(os="Mac"), pv(os="Mac"), pv(os="Mac"), pv(), pv(), pv()],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["visit:os", "visit:os_version"]},
        "results": [
            _row(["Mac", "14"], [3]),
            _row(["Windows", "11"], [2]),
            _row(["(not set)", "14"], [1]),
        ],
        "differs": VERSION_ALONE,
    },
    {
        "name": "breakdown by visit:browser and visit:browser_version",
        "events": [pv(browser="Chrome")] * 3 + [pv()] * 3,
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser", "visit:browser_version"],
        },
        "results": [
            _row(["Chrome", "14"], [3]),
            _row(["Firefox", "11"], [2]),
            _row(["(not set)", "14"], [1]),
        ],
        "differs": VERSION_ALONE,
    },
    {
        "name": "explicit order_by",
        "events": [
            pv(os="Windows", browser="Chrome"),
            pv(os="Windows", browser="Firefox"),
            pv(os="Linux", browser="Firefox"),
            pv(os="Linux", browser="Firefox"),
            pv(os="Mac", browser="Chrome"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:os", "visit:browser"],
            "order_by": [["visitors", "asc"], ["visit:browser", "desc"], ["visit:os", "asc"]],
        },
        "results": [
            _row(["Windows", "Firefox"], [1]),
            _row(["Mac", "Chrome"], [1]),
            _row(["Windows", "Chrome"], [1]),
            _row(["Linux", "Firefox"], [2]),
        ],
        "ingest_values": {"Linux": "GNU/Linux"},
    },
    {
        "name": "breakdown by event:page",
        "events": [pv(path="/", ts=T0), pv(path="/", ts=T25), pv(path="/plausible.io", ts=T0)],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["event:page"]},
        "results": [_row(["/"], [2]), _row(["/plausible.io"], [1])],
    },
    {
        "name": "breakdown by event:hostname",
        "events": [pv(hostname="a.example.com")] * 3 + [pv(hostname="b.example.com")],
        "body": {**ALL, "metrics": ["pageviews"], "dimensions": ["event:hostname"]},
        "results": [_row(["a.example.com"], [3]), _row(["b.example.com"], [1])],
    },
    {
        "name": "can breakdown by event:name",
        "events": [ev("Signup", ts=T0), ev("Signup", ts=T0), pv(ts=T25)],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["event:name"]},
        "results": [_row(["Signup"], [2]), _row(["pageview"], [1])],
    },
    {
        "name": "can breakdown by event:name with visitors and events metrics",
        "events": [
            pv(path="/non-existing", user=U, ts=T0),
            ev("404", path="/non-existing", user=U, ts=T0),
            pv(path="/non-existing", ts="2021-01-01 00:00:01"),
            pv(path="/non-existing", user=U, ts="2021-01-01 00:00:02"),
            ev("404", path="/non-existing", user=U, ts="2021-01-01 00:00:02"),
            pv(path="/non-existing", user=U, ts="2021-01-01 00:00:03"),
        ],
        "body": {**ALL, "metrics": ["visitors", "events"], "dimensions": ["event:name"]},
        "results": [_row(["pageview"], [2, 4]), _row(["404"], [1, 2])],
    },
    {
        "name": "can breakdown by event:name while filtering for something",
        "events": PAGE_AB,
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:name"],
            "filters": [["is", "event:page", ["/pageA"]], ["is", "visit:browser", ["Chrome"]]],
        },
        "results": [_row(["Signup"], [2]), _row(["pageview"], [1])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "can breakdown by a visit:property when filtering by event:name",
        "events": [
            pv(source="Google", user=U, ts=T0),
            ev("Signup", user=U, ts=T0),
            pv(source="Twitter", ts=T25),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:name", ["Signup"]]],
        },
        "results": [_row(["Google"], [1])],
    },
    {
        "name": "can breakdown by event:name when filtering by event:page",
        "events": [
            pv(path="/pageA"),
            pv(path="/pageA"),
            ev("Signup", path="/pageA"),
            pv(path="/pageB", source="Twitter", ts=T25),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:name"],
            "filters": [["contains", "event:page", ["/pageA"]]],
        },
        "results": [_row(["pageview"], [2]), _row(["Signup"], [1])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "can breakdown by event:page when filtering by event:name",
        "events": [
            ev("Signup", path="/pageA"),
            ev("Signup", path="/pageA"),
            ev("Signup", path="/pageB"),
            pv(path="/pageB", ts=T25),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:name", ["Signup"]]],
        },
        "results": [_row(["/pageA"], [2]), _row(["/pageB"], [1])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "can filter event:page with a wildcard",
        "events": [
            pv(path="/en/page1"),
            pv(path="/en/page2"),
            pv(path="/en/page2"),
            pv(path="/pl/page1"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["contains", "event:page", ["/en/"]]],
        },
        "results": [_row(["/en/page2"], [2]), _row(["/en/page1"], [1])],
    },
    {
        "name": "can filter event:hostname with a contains",
        "events": [
            pv(hostname=f"{n}.example.com", path="/a") for n in ("alice-m", "anna-m", "adam-m")
        ]
        + [pv(hostname="bob.example.com", path="/b")],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["contains", "event:hostname", ["-m.example.com"]]],
        },
        "results": [_row(["/a"], [3])],
    },
    {
        "name": "breakdown by custom event property",
        "events": [
            ev("Purchase", props={"package": "business"}, ts=T0),
            ev("Purchase", props={"package": "personal"}, ts=T0),
            ev("Purchase", props={"package": "business"}, ts=T25),
            ev("Some other event", props={"package": "business"}, ts=T25),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:props:package"],
            "filters": [["is", "event:name", ["Purchase"]]],
        },
        "results": [_row(["business"], [2]), _row(["personal"], [1])],
    },
    {
        "name": "breakdown by custom event property, with pageviews metric",
        "events": [
            pv(props={"package": "business"}, ts=T0),
            pv(props={"package": "personal"}, ts=T0),
            pv(props={"package": "business"}, ts=T25),
        ],
        "body": {**ALL, "metrics": ["pageviews"], "dimensions": ["event:props:package"]},
        "results": [_row(["business"], [2]), _row(["personal"], [1])],
    },
    {
        "name": "breakdown by custom event property, with (none)",
        "events": [ev("Purchase", props={"cost": "16"}, ts=T0)] * 3
        + [ev("Purchase", ts=T25), ev("Purchase", props={"cost": "14"}, ts=T25)]
        + [ev("Purchase", props={"cost": "14"}, ts="2021-01-01 00:26:00")],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:props:cost"],
            "filters": [["is", "event:name", ["Purchase"]]],
        },
        "results": [_row(["16"], [3]), _row(["14"], [2]), _row(["(none)"], [1])],
    },
    {
        "name": "event:page filter for breakdown by session props",
        "events": [
            pv(path="/ignore", browser="Chrome", ts=T0),
            pv(path="/plausible.io", browser="Chrome", ts=T0),
            pv(path="/plausible.io", browser="Chrome", ts=T25),
            pv(path="/plausible.io", browser="Safari", ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is", "event:page", ["/plausible.io"]]],
        },
        "results": [_row(["Chrome"], [2]), _row(["Safari"], [1])],
    },
    {
        "name": "event:page filter shows sources of sessions that have visited that page",
        "events": [
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
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:page", ["/plausible.io"]]],
        },
        "results": [_row(["Google"], [2]), _row(["Twitter"], [1])],
        "variants": [
            {
                "body": {"dimensions": [d]},
                "results": [_row(["Google"], [2]), _row(["Twitter"], [1])],
            }
            for d in ("visit:utm_medium", "visit:utm_source", "visit:utm_campaign")
        ],
    },
    {
        "name": "top sources for a custom goal and filtered by hostname",
        "events": [
            pv(hostname="blog.example.com", source="Facebook", user=U),
            pv(hostname="app.example.com", path="/register", user=U),
            ev("Signup", hostname="app.example.com", path="/register", user=U),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:hostname", ["app.example.com"]]],
        },
        "results": [],
    },
    {
        "name": "top sources for a custom goal and filtered by hostname (2)",
        "events": [
            pv(hostname="app.example.com", source="Facebook", path="/register", user=U),
            ev("Signup", hostname="app.example.com", path="/register", user=U),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:hostname", ["app.example.com"]]],
        },
        "results": [_row(["Facebook"], [1])],
    },
    {
        "name": "event:page filter is interpreted as entry_page filter only for bounce_rate",
        "events": [
            pv(browser="Chrome", user=U, path="/ignore", ts=T0),
            pv(browser="Chrome", user=U, path="/plausible.io", ts="2021-01-01 00:01:00"),
            pv(browser="Chrome", user=456, path="/important-page", ts=T0),
            pv(browser="Chrome", user=456, path="/", ts="2021-01-01 00:01:00"),
            pv(browser="Chrome", path="/plausible.io", ts="2021-01-01 00:01:00"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "bounce_rate"],
            "filters": [["is", "event:page", ["/plausible.io", "/important-page"]]],
            "dimensions": ["visit:browser"],
        },
        "results": [_row(["Chrome"], [3, 50])],
    },
    {
        "name": "event:goal pageview filter for breakdown by visit source",
        "goals": ["page:/plausible.io"],
        "events": [
            pv(source="Bing", ts=T0),
            pv(source="Google", user=U, ts=T0),
            pv(path="/plausible.io", user=U, ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:goal", ["Visit /plausible.io"]]],
        },
        "results": [_row(["Google"], [1])],
    },
    {
        "name": "event:goal custom event filter for breakdown by visit source",
        "goals": ["event:Register"],
        "events": [
            pv(source="Bing", ts=T0),
            pv(source="Google", user=U, ts=T0),
            ev("Register", user=U, ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:goal", ["Register"]]],
        },
        "results": [_row(["Google"], [1])],
    },
    {
        "name": "wildcard pageview goal filter for breakdown by event:page",
        "goals": ["page:/**register"],
        "events": [
            pv(path="/en/register"),
            pv(path="/en/register", user=U),
            pv(path="/en/register", user=U),
            pv(path="/123/it/register"),
            pv(path="/should-not-appear"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:goal", ["Visit /**register"]]],
        },
        "results": [_row(["/en/register"], [2, 3]), _row(["/123/it/register"], [1, 1])],
    },
    {
        "name": "goal contains filter for goal breakdown",
        "goals": CONVERSION_GOALS,
        "events": CONVERSION_EVENTS,
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:goal"],
            "filters": [["contains", "event:goal", ["conversion"]]],
        },
        "results": [
            _row(["Onboarding conversion: Step 1"], [2]),
            _row(["Onboarding conversion: Step 2"], [1]),
            _row(["Visit /conversion"], [1]),
        ],
    },
    {
        "name": "goal contains filter for goal breakdown (case insensitive)",
        "goals": CONVERSION_GOALS,
        "events": CONVERSION_EVENTS,
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:goal"],
            "filters": [["contains", "event:goal", ["step"], {"case_sensitive": False}]],
        },
        "results": [
            _row(["Onboarding conversion: Step 1"], [2]),
            _row(["Onboarding conversion: Step 2"], [1]),
        ],
    },
    {
        "name": "mixed multi-goal filter for breakdown by visit:country",
        "goals": ["page:/**register", "event:Signup"],
        "events": [
            pv(country="EE", path="/en/register"),
            ev("Signup", country="EE", path="/en/register"),
            pv(country="US", path="/123/it/register"),
            pv(country="US", path="/different"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews", "events"],
            "dimensions": ["visit:country"],
            "filters": [["is", "event:goal", ["Signup", "Visit /**register"]]],
        },
        "results": [_row(["EE"], [2, 1, 2]), _row(["US"], [1, 1, 1])],
    },
    {
        "name": "event:goal custom event filter for breakdown by event page",
        "goals": ["event:Register"],
        "events": [
            ev("Register", path="/en/register"),
            ev("Register", path="/en/register"),
            ev("Register", path="/it/register"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:goal", ["Register"]]],
        },
        "results": [_row(["/en/register"], [2]), _row(["/it/register"], [1])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "IN filter for event:page",
        "events": [
            pv(path="/ignore"),
            pv(path="/plausible.io"),
            pv(path="/plausible.io"),
            pv(path="/important-page"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:page", ["/plausible.io", "/important-page"]]],
        },
        "results": [_row(["/plausible.io"], [2]), _row(["/important-page"], [1])],
    },
    {
        "name": "IN filter for visit:browser",
        "events": [
            pv(path="/ignore", browser="Firefox"),
            pv(path="/plausible.io", browser="Chrome"),
            pv(path="/plausible.io", browser="Safari"),
            pv(path="/important-page", browser="Safari"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:page"],
            "filters": [["is", "visit:browser", ["Chrome", "Safari"]]],
        },
        "results": [_row(["/plausible.io"], [2]), _row(["/important-page"], [1])],
    },
    {
        "name": "IN filter for visit:entry_page",
        "events": [
            pv(path="/ignore"),
            pv(path="/plausible.io"),
            pv(path="/plausible.io"),
            pv(path="/important-page"),
        ],
        "body": {
            **ALL,
            "metrics": ["bounce_rate"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:page", ["/plausible.io", "/important-page"]]],
        },
        "results": [_row(["/plausible.io"], [100]), _row(["/important-page"], [100])],
        "unordered": True,  # Plausible's test accepts either order of the two rows
    },
    {
        "name": "IN filter for event:name",
        "events": [ev("Signup"), ev("Signup"), ev("Login"), ev("Irrelevant")],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["event:name"],
            "filters": [["is", "event:name", ["Signup", "Login"]]],
        },
        "results": [_row(["Signup"], [2]), _row(["Login"], [1])],
    },
    {
        "name": "IN filter for event:name case insensitive",
        "events": [ev("Signup"), ev("Signup"), ev("Login"), ev("Irrelevant")],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "filters": [["is", "event:name", ["signup", "LOGIN"], {"case_sensitive": False}]],
        },
        "results": [_row([], [3])],
    },
    {
        "name": "IN filter for event:props:*",
        "events": [
            pv(browser=b, props={"browser": b}) for b in ("Chrome", "Chrome", "Safari", "Firefox")
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is", "event:props:browser", ["Chrome", "Safari"]]],
        },
        "results": [_row(["Chrome"], [2]), _row(["Safari"], [1])],
    },
    {
        "name": "Multiple event:props:* filters",
        "events": [
            pv(browser="Chrome", props={"browser": "Chrome"}),
            pv(browser="Chrome", props={"browser": "Chrome", "prop": "xyz"}),
            pv(browser="Safari", props={"browser": "Safari", "prop": "target_value"}),
            pv(browser="Chrome", props={"browser": "Chrome", "prop": "target_value"}),
            pv(browser="Firefox", props={"browser": "Firefox", "prop": "target_value"}),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [
                ["is", "event:props:browser", ["CHROME", "sAFari"], {"case_sensitive": False}],
                ["is_not", "event:props:browser", ["Chrome"], {"case_sensitive": False}],
                ["is", "event:props:prop", ["target_value"]],
            ],
        },
        "results": [_row(["Safari"], [1])],
    },
    {
        "name": "IN filter for event:props:* including (none) value",
        "events": [
            pv(browser="Chrome", props={"browser": "Chrome"}),
            pv(browser="Chrome", props={"browser": "Chrome"}),
            pv(browser="Safari"),
            pv(browser="Firefox", props={"browser": "Firefox"}),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is", "event:props:browser", ["Chrome", "(none)"]]],
        },
        "results": [_row(["Chrome"], [2]), _row(["Safari"], [1])],
    },
    {
        "name": "can use a is_not filter",
        "events": [
            pv(browser="Chrome"),
            pv(browser="Safari"),
            pv(browser="Safari"),
            pv(browser="Edge"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is_not", "visit:browser", ["Chrome"]]],
        },
        "results": [_row(["Safari"], [2]), _row(["Edge"], [1])],
        "ingest_values": {"Edge": "Microsoft Edge"},
    },
    {
        "name": "all metrics for breakdown by visit prop",
        "events": [
            pv(user=1, source="Google", ts=T0),
            ev("signup", user=1, ts="2021-01-01 00:05:00"),
            pv(user=1, ts="2021-01-01 00:10:00"),
            pv(source="Google", ts=T25),
            pv(source="Twitter", ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": [
                "visitors",
                "visits",
                "pageviews",
                "events",
                "bounce_rate",
                "visit_duration",
            ],
            "dimensions": ["visit:source"],
        },
        "results": [
            _row(["Google"], [2, 2, 3, 4, 50, 300]),
            _row(["Twitter"], [1, 1, 1, 1, 100, 0]),
        ],
    },
    {
        "name": "metrics=bounce_rate does not add visits to the response",
        "events": [
            pv(user=1, path="/entry-page-1", ts=T0),
            pv(user=1, path="/some-page", ts="2021-01-01 00:10:00"),
            pv(user=2, path="/entry-page-2", source="Google", ts="2021-01-01 00:05:00"),
        ],
        "body": {
            **ALL,
            "metrics": ["bounce_rate"],
            "dimensions": ["visit:entry_page"],
            "order_by": [["visit:entry_page", "asc"]],
        },
        "results": [_row(["/entry-page-1"], [0]), _row(["/entry-page-2"], [100])],
    },
    {
        "name": "all metrics for breakdown by event prop",
        "events": [
            pv(user=1, path="/", ts=T0),
            pv(user=1, path="/plausible.io", ts="2021-01-01 00:10:00"),
            pv(path="/", ts=T25),
            pv(path="/plausible.io", ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": [
                "visitors",
                "visits",
                "pageviews",
                "events",
                "bounce_rate",
                "visit_duration",
            ],
            "dimensions": ["event:page"],
            "order_by": [["event:page", "desc"]],
        },
        "results": [
            _row(["/plausible.io"], [2, 2, 2, 2, 100, 0]),
            _row(["/"], [2, 2, 2, 2, 50, 300]),
        ],
    },
    {
        "name": "filtering by custom event property",
        "events": [
            ev("Purchase", props={"package": "business"}, browser="Chrome", ts=T0),
            ev("Purchase", props={"package": "business"}, browser="Safari", ts=T0),
            ev("Purchase", props={"package": "business"}, browser="Safari", ts=T25),
            ev("Purchase", props={"package": "personal"}, browser="IE", ts=T25),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [
                ["is", "event:name", ["Purchase"]],
                ["is", "event:props:package", ["business"]],
            ],
        },
        "results": [_row(["Safari"], [2]), _row(["Chrome"], [1])],
    },
    {
        "name": "multiple breakdown timeseries with sources",
        "events": [
            pv(source="Google", ts=T0),
            pv(ts="2021-01-02 00:00:00"),
            pv(source="Google", ts="2021-01-02 00:00:00"),
            pv(source="Google", ts="2021-01-02 00:00:00"),
            pv(ts="2021-01-03 00:00:00"),
            pv(ts="2021-01-03 00:00:00"),
            pv(source="Twitter", ts="2021-01-03 00:00:00"),
        ],
        "body": {
            "metrics": ["visitors"],
            "date_range": ["2021-01-01", "2021-01-03"],
            "dimensions": ["time", "visit:source"],
        },
        "results": [
            _row(["2021-01-01", "Google"], [1]),
            _row(["2021-01-02", "Google"], [2]),
            _row(["2021-01-02", "Direct / None"], [1]),
            _row(["2021-01-03", "Direct / None"], [2]),
            _row(["2021-01-03", "Twitter"], [1]),
        ],
    },
    {
        "name": "filtering by visit:country_name, visit:region_name, visit:city_name",
        "events": [pv(country="GB"), pv(country="EE")],
        "body": {
            **ALL,
            "metrics": ["pageviews"],
            "filters": [["is", "visit:country_name", ["Estonia", "United Kingdom"]]],
            "dimensions": ["visit:country_name"],
        },
        "results": [_row(["Estonia"], [1]), _row(["United Kingdom"], [1])],
        "differs": "countries, regions and cities are stored by code and name only, not by "
        "Plausible's localised names: the *_name dimensions are a 400",
    },
    {
        "name": "yields the same results for a simple aggregate query (returned query reused)",
        "timezone": "Europe/Tallinn",
        "events": [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(ts=T0)],
        "body": {**ALL, "metrics": ["pageviews"]},
        "results": [_row([], [3])],
        "requery": True,
    },
    {
        "name": "pagination above total count - all results are returned",
        "events": PAGES_1_8,
        "body": {**PAGED, "pagination": {"limit": 10}},
        "results": [_row([f"/{i}"], [1]) for i in range(1, 9)],
        "meta": {"total_rows": 8},
    },
    {
        "name": "pagination with offset",
        "events": PAGES_1_8,
        "body": {**PAGED, "pagination": {"limit": 3}},
        "results": [_row([f"/{i}"], [1]) for i in range(1, 4)],
        "meta": {"total_rows": 8},
        "variants": [
            {
                "body": {"pagination": {"limit": 3, "offset": 3}},
                "results": [_row([f"/{i}"], [1]) for i in range(4, 7)],
                "meta": {"total_rows": 8},
            },
            {
                "body": {"pagination": {"limit": 3, "offset": 6}},
                "results": [_row([f"/{i}"], [1]) for i in range(7, 9)],
                "meta": {"total_rows": 8},
            },
            {"body": {"pagination": {"limit": 3, "offset": 9}}, "results": []},
        ],
    },
    {
        "name": "can filter by utm_medium case insensitively (lower-case value)",
        "events": [
            pv(utm_medium="Social", user=U, ts=T0),
            pv(utm_medium="SOCIAL", user=U, ts=T25),
            pv(ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": ["pageviews", "visitors", "bounce_rate", "visit_duration"],
            "filters": [["is", "visit:utm_medium", ["social"], {"case_sensitive": False}]],
        },
        "results": [_row([], [2, 1, 0, 1500])],
    },
    {
        "name": "revenue: not requested leads to no metric_warnings",
        "events": [],
        "body": {**ALL, "metrics": ["pageviews"]},
        "results": [_row([], [0])],
        "meta_absent": ["metric_warnings"],
    },
    {
        "name": "revenue: no revenue goals configured",
        "goals": ["event:Signup"],
        "events": [ev("Signup", ts=T0)],
        "body": {
            **ALL,
            "metrics": ["average_revenue", "total_revenue"],
            "dimensions": ["event:goal"],
        },
        "results": [_row(["Signup"], [None, None])],
        "meta": {"metric_warnings": NO_MATCH},
    },
    {
        "name": "revenue: not filtering or grouping by goals leads to warnings",
        "events": [],
        "body": {**ALL, "metrics": ["average_revenue", "total_revenue"]},
        "results": [_row([], [None, None])],
        "meta": {"metric_warnings": NO_MATCH},
    },
    {
        "name": "revenue: filtering by revenue goals with same currency",
        "goals": REVENUE_GOALS,
        "events": REVENUE_EVENTS,
        "body": {
            **ALL,
            "metrics": ["events", "average_revenue", "total_revenue"],
            "filters": [["is", "event:goal", ["Signup", "Purchase", "Payment"]]],
        },
        "results": [
            _row([], [4, _usd(67.066, "$67.07", "$67.1"), _usd(201.2, "$201.20", "$201.2")])
        ],
        "meta_absent": ["metric_warnings"],
    },
    {
        "name": "revenue: filtering by revenue goals with different currencies",
        "goals": REVENUE_GOALS,
        "events": REVENUE_EVENTS,
        "body": {
            **ALL,
            "metrics": ["average_revenue", "total_revenue"],
            "filters": [["is", "event:goal", ["Subscription", "Payment"]]],
        },
        "results": [_row([], [None, None])],
        "meta": {
            "metric_warnings": {
                m: {
                    "code": "no_single_revenue_currency",
                    "warning": "Revenue metrics are null as there are multiple currencies for "
                    "the selected event:goals.",
                }
                for m in ("average_revenue", "total_revenue")
            }
        },
    },
    {
        "name": "revenue: breakdown by revenue goals",
        "goals": REVENUE_GOALS,
        "events": REVENUE_EVENTS,
        "body": {
            **ALL,
            "metrics": ["average_revenue", "total_revenue"],
            "dimensions": ["event:goal"],
        },
        "results": [
            PURCHASE,
            _row(
                ["Subscription"],
                [{"currency": "EUR", "long": "€100.00", "short": "€100.0", "value": 100.0}] * 2,
            ),
            _row(["Payment"], [_usd(50.45, "$50.45", "$50.4"), _usd(100.9, "$100.90", "$100.9")]),
            _row(["Signup"], [None, None]),
        ],
        "meta_absent": ["metric_warnings"],
    },
    {
        "name": "revenue: breakdown by revenue goals + filtering",
        "goals": REVENUE_GOALS,
        "events": REVENUE_EVENTS,
        "body": {
            **ALL,
            "metrics": ["average_revenue", "total_revenue"],
            "filters": [["is", "event:goal", ["Signup", "Purchase"]]],
            "dimensions": ["event:goal"],
        },
        "results": [PURCHASE, _row(["Signup"], [None, None])],
        "meta_absent": ["metric_warnings"],
    },
]

# From query_goal_dimension_test.exs ("breakdown by event:goal").
CASES += [
    {
        "name": "returns custom event goals and pageview goals",
        "goals": ["event:Purchase", "page:/test"],
        "events": [
            pv(path="/test", ts="2021-01-01 00:00:01"),
            ev("Purchase", ts="2021-01-01 00:00:03"),
            ev("Purchase", ts="2021-01-01 00:00:03"),
        ],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["event:goal"]},
        "results": [_row(["Purchase"], [2]), _row(["Visit /test"], [1])],
    },
    {
        "name": "returns pageview goals containing wildcards",
        "goals": ["page:/**/post", "page:/blog**"],
        "events": [
            pv(path="/blog", user=U),
            pv(path="/blog/post-1", user=U),
            pv(path="/blog/post-2", user=U),
            pv(path="/blog/something/post"),
            pv(path="/different/page/post"),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews"],
            "dimensions": ["event:goal"],
            "order_by": [["pageviews", "desc"]],
        },
        "results": [_row(["Visit /blog**"], [2, 4]), _row(["Visit /**/post"], [2, 2])],
    },
    {
        "name": "does not return goals that are not configured for the site",
        "events": [pv(path="/register"), ev("Signup")],
        "body": {**ALL, "metrics": ["visitors", "pageviews"], "dimensions": ["event:goal"]},
        "results": [],
    },
    {
        "name": "returns conversion_rate in an event:goal breakdown",
        "goals": ["event:Signup", "page:/blog**"],
        "events": [
            ev("Signup", user=1),
            ev("Signup", user=1),
            pv(path="/blog"),
            pv(path="/blog/post"),
            pv(),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "events", "conversion_rate"],
            "dimensions": ["event:goal"],
        },
        "results": [_row(["Visit /blog**"], [2, 2, 50.0]), _row(["Signup"], [1, 2, 25.0])],
    },
    {
        "name": "returns conversion_rate alone in an event:goal breakdown",
        "goals": ["event:Signup"],
        "events": [ev("Signup", user=1), pv()],
        "body": {**ALL, "metrics": ["conversion_rate"], "dimensions": ["event:goal"]},
        "results": [_row(["Signup"], [50.0])],
    },
]

# From query_special_metrics_test.exs (conversion rates).
AUTHORS = [
    pv(path="/blog/1", props={"author": "Uku"}),
    pv(path="/blog/2", props={"author": "Uku"}),
    pv(path="/blog/3", props={"author": "Uku"}),
    pv(path="/blog/1", props={"author": "Marko"}),
    pv(path="/blog/2", props={"author": "Marko"}, user=1),
    pv(path="/blog/3", props={"author": "Marko"}, user=1),
    pv(path="/blog"),
    pv(props={"author": "Marko"}),
    pv(),
]
REGISTER = [
    ev("pageview", path="/en/register"),
    ev("Signup", path="/en/register"),
    ev("Signup", path="/en/register"),
    ev("Signup", path="/it/register", user=1),
    ev("Signup", path="/it/register", user=1),
    ev("pageview", path="/it/register"),
]
CARTS = [
    ev("pageview", screen="Mobile"),
    ev("AddToCart", screen="Mobile"),
    ev("AddToCart", screen="Mobile"),
    ev("AddToCart", screen="Desktop", user=1),
    ev("Purchase", screen="Desktop", user=1),
    ev("pageview", screen="Desktop"),
]
CASES += [
    {
        "name": "returns conversion_rate in a goal filtered custom prop breakdown",
        "goals": ["page:/blog**"],
        "events": AUTHORS,
        "body": {
            **ALL,
            "filters": [["is", "event:goal", ["Visit /blog**"]]],
            "metrics": ["visitors", "events", "conversion_rate"],
            "dimensions": ["event:props:author"],
        },
        "results": [
            _row(["Uku"], [3, 3, 37.5]),
            _row(["Marko"], [2, 3, 25.0]),
            _row(["(none)"], [1, 1, 12.5]),
        ],
    },
    {
        "name": "returns conversion_rate alone in a goal filtered custom prop breakdown",
        "goals": ["page:/blog**"],
        "events": [pv(path="/blog/1", props={"author": "Uku"}), pv()],
        "body": {
            **ALL,
            "metrics": ["conversion_rate"],
            "dimensions": ["event:props:author"],
            "filters": [["is", "event:goal", ["Visit /blog**"]]],
        },
        "results": [_row(["Uku"], [50])],
    },
    {
        "name": "returns group_conversion_rate in a goal filtered event:page breakdown",
        "goals": ["event:Signup"],
        "events": REGISTER,
        "body": {
            **ALL,
            "dimensions": ["event:page"],
            "filters": [["is", "event:goal", ["Signup"]]],
            "metrics": ["visitors", "events", "group_conversion_rate"],
        },
        "results": [_row(["/en/register"], [2, 2, 66.67]), _row(["/it/register"], [1, 2, 50.0])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "returns group_conversion_rate alone in a goal filtered event:page breakdown",
        "goals": ["event:Signup"],
        "events": REGISTER[:2],
        "body": {
            **ALL,
            "filters": [["is", "event:goal", ["Signup"]]],
            "metrics": ["group_conversion_rate"],
            "dimensions": ["event:page"],
        },
        "results": [_row(["/en/register"], [50.0])],
        "differs": PAGE_OF_EVENTS,
    },
    {
        "name": "returns group_conversion_rate in a multi-goal filtered visit:device breakdown",
        "goals": ["event:Purchase", "event:AddToCart"],
        "events": CARTS,
        "body": {
            **ALL,
            "metrics": ["visitors", "events", "group_conversion_rate"],
            "dimensions": ["visit:device"],
            "filters": [["is", "event:goal", ["AddToCart", "Purchase"]]],
        },
        "results": [_row(["Mobile"], [2, 2, 66.67]), _row(["Desktop"], [1, 2, 50])],
    },
    {
        "name": "returns conversion_rate alone in a goal filtered visit:device breakdown",
        "goals": ["event:AddToCart"],
        "events": CARTS[:2],
        "body": {
            **ALL,
            "metrics": ["conversion_rate"],
            "dimensions": ["visit:device"],
            "filters": [["is", "event:goal", ["AddToCart"]]],
        },
        "results": [_row(["Mobile"], [50])],
    },
]
