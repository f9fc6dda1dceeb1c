"""Ported from Plausible's test/plausible_web/controllers/api/
external_stats_controller/query_test.exs: aggregates and filters.

Each case: `events` (Plausible's factory attributes, see plausible_seed),
`goals` ("event:NAME" / "page:PATH"), the request `body` (site_id is added),
and what Plausible's test asserts (`results`, `meta`, or `status` + `error`).
`differs` says why our answer is not Plausible's (README table).
"""

from __future__ import annotations

from typing import Any

# Plausible's factories store attributes as given; its ingest writes some of
# them otherwise for any request (it stores a referrer without its scheme:
# "facebook.com/page"; UAInspector names Linux "GNU/Linux" and Edge
# "Microsoft Edge", and a Chrome 56 user agent's version is "56.0"). Such a
# case says so in `ingest_values` (fixture value → what ingest writes), and
# its request and expected answer are read with those values.
SCHEMELESS = {"https://facebook.com": "facebook.com"}


def pv(**kw: Any) -> dict[str, Any]:
    return {"name": "pageview", **kw}


def ev(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, **kw}


U = 1231  # Plausible's @user_id
T0, T25 = "2021-01-01 00:00:00", "2021-01-01 00:25:00"
ALL = {"date_range": "all"}
FOUR = ["pageviews", "visitors", "bounce_rate", "visit_duration"]
ONE_VISIT_OF_TWO = [{"metrics": [2, 1, 0, 1500], "dimensions": []}]


def _session_filter(
    name: str, attr: dict[str, Any], flt: list[Any], **extra: Any
) -> dict[str, Any]:
    """Plausible's "can filter by X": a two-page visit with the attribute,
    and one other visitor without it."""
    return {
        "name": name,
        "events": [pv(user=U, ts=T0, **attr), pv(user=U, ts=T25), pv(ts=T0)],
        "body": {**ALL, "metrics": FOUR, "filters": [flt]},
        "results": ONE_VISIT_OF_TWO,
        **extra,
    }


def _visitors(
    name: str, events: list[dict[str, Any]], filters: list[Any], n: int
) -> dict[str, Any]:
    return {
        "name": name,
        "events": events,
        "body": {**ALL, "metrics": ["visitors"], "filters": filters},
        "results": [{"metrics": [n], "dimensions": []}],
    }


PAGES_EN = [pv(path="/en/page1"), pv(path="/en/page2"), pv(path="/pl/page1")]
PAGES_EN_CASE = [pv(path="/en/page1"), pv(path="/EN/page2"), pv(path="/pl/page1")]
USER_PAGES = [
    pv(path="/user/1234"),
    pv(path="/user/789/contributions"),
    pv(path="/blog/user/1234"),
    pv(path="/user/ef/contributions"),
    pv(path="/other/path"),
]
TIERS = [
    pv(props={"tier": "large-1", "value": "ax"}),
    pv(props={"tier": "small-1", "value": "bx"}),
    pv(props={"tier": "small-1", "value": "ax"}),
    pv(props={"tier": "small-2", "value": "bx"}),
    pv(props={"tier": "small-2", "value": "cx"}),
    pv(props={"tier": "small-3"}),
    pv(props={"value": "ax"}),
    pv(),
]
NAMES = [pv(props={"name": n}) for n in ("large-1", "Small-1", "mall-1", "SMALL-2", "small-2")] + [
    pv()
]
SIGNUPS = [ev("Signup", ts=T0), ev("Signup", user=U, ts=T25), ev("Signup", user=U, ts=T25)]

CASES: list[dict[str, Any]] = [
    {
        "name": "aggregates a single metric",
        "events": [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(ts=T0)],
        "body": {**ALL, "metrics": ["pageviews"]},
        "results": [{"metrics": [3], "dimensions": []}],
    },
    {
        "name": "aggregate views_per_visit rounds to two decimal places",
        "events": [
            pv(user=U, ts=T0),
            pv(user=U, ts=T25),
            pv(user=456, ts=T0),
            pv(user=456, ts=T25),
            pv(ts=T0),
        ],
        "body": {**ALL, "metrics": ["views_per_visit"]},
        "results": [{"metrics": [1.67], "dimensions": []}],
    },
    {
        "name": "aggregates all metrics in a single query",
        "events": [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(ts=T0)],
        "body": {
            **ALL,
            "metrics": [
                "pageviews",
                "visits",
                "views_per_visit",
                "visitors",
                "bounce_rate",
                "visit_duration",
            ],
        },
        "results": [{"metrics": [3, 2, 1.5, 2, 50, 750], "dimensions": []}],
    },
    _session_filter(
        "can filter by source", {"source": "Google"}, ["is", "visit:source", ["Google"]]
    ),
    {
        "name": "does not count engagement events towards the events metric",
        "events": [pv(user=234, ts=T0), ev("engagement", user=234, ts="2021-01-01 00:00:01")],
        "body": {**ALL, "metrics": ["events"]},
        "results": [{"metrics": [1], "dimensions": []}],
    },
    {
        "name": "engagement events do not affect bounce rate and visit duration",
        "events": [pv(user=123, ts=T0), ev("engagement", user=123, ts="2021-01-01 00:00:03")],
        "body": {**ALL, "metrics": ["bounce_rate", "visit_duration"]},
        "results": [{"metrics": [100, 0], "dimensions": []}],
    },
    _session_filter(
        "can filter by channel",
        {"source": "Google"},
        ["is", "visit:channel", ["Organic Search"]],
    ),
    {
        "name": "can filter by no source/referrer",
        "events": [pv(user=U, ts=T0), pv(user=U, ts=T25), pv(source="Google", ts=T0)],
        "body": {**ALL, "metrics": FOUR, "filters": [["is", "visit:source", ["Direct / None"]]]},
        "results": ONE_VISIT_OF_TWO,
    },
    _session_filter(
        "can filter by referrer",
        {"referrer": "https://facebook.com"},
        ["is", "visit:referrer", ["https://facebook.com"]],
        ingest_values=SCHEMELESS,
    ),
    _visitors(
        "contains referrer filter",
        [pv(referrer="https://a.com"), pv(referrer="https://a.com"), pv(referrer="https://ab.com")],
        [["contains", "visit:referrer", ["a.com"]]],
        2,
    ),
    _session_filter(
        "can filter by utm_medium", {"utm_medium": "social"}, ["is", "visit:utm_medium", ["social"]]
    ),
    {
        "name": "can filter by utm_medium case insensitively",
        "events": [
            pv(user=U, ts=T0, utm_medium="Social"),
            pv(user=U, ts=T25, utm_medium="SOCIAL"),
            pv(ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": FOUR,
            "filters": [["is", "visit:utm_medium", ["sociaL"], {"case_sensitive": False}]],
        },
        "results": ONE_VISIT_OF_TWO,
    },
    {
        "name": "can filter by is_not utm_medium case insensitively",
        "events": [
            pv(user=U, ts=T0, utm_medium="Social"),
            pv(user=U, ts=T25, utm_medium="SOCIAL"),
            pv(ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": ["pageviews"],
            "filters": [["is_not", "visit:utm_medium", ["sociaL"], {"case_sensitive": False}]],
        },
        "results": [{"metrics": [1], "dimensions": []}],
    },
    _session_filter(
        "can filter by utm_source",
        {"utm_source": "Twitter"},
        ["is", "visit:utm_source", ["Twitter"]],
    ),
    _session_filter(
        "can filter by utm_campaign",
        {"utm_campaign": "profile"},
        ["is", "visit:utm_campaign", ["profile"]],
    ),
    _session_filter(
        "can filter by device type",
        {"screen": "Desktop"},
        ["is", "visit:device", ["Desktop"]],
    ),
    _session_filter(
        "can filter by browser", {"browser": "Chrome"}, ["is", "visit:browser", ["Chrome"]]
    ),
    _session_filter(
        "can filter by browser version",
        {"browser": "Chrome", "browser_version": "56"},
        ["is", "visit:browser_version", ["56"]],
        ingest_values={"56": "56.0"},
    ),
    _session_filter(
        "can filter by operating system",
        {"os": "Mac"},
        ["is", "visit:os", ["Mac"]],
    ),
    _session_filter(
        "can filter by operating system version",
        {"os_version": "10.5"},
        ["is", "visit:os_version", ["10.5"]],
    ),
    _session_filter("can filter by country", {"country": "EE"}, ["is", "visit:country", ["EE"]]),
    {
        "name": "can filter by page",
        "events": [
            pv(user=U, ts=T0),
            pv(user=U, path="/blogpost", ts=T25),
            pv(ts=T0),
            pv(path="/blogpost", ts=T0),
        ],
        "body": {**ALL, "metrics": FOUR, "filters": [["is", "event:page", ["/blogpost"]]]},
        "results": [{"metrics": [2, 2, 100, 750], "dimensions": []}],
    },
    {
        "name": "can filter by hostname",
        "events": [
            pv(hostname="one.example.com", ts=T0),
            pv(hostname="example.com", ts=T25),
            pv(ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": FOUR,
            "filters": [["contains", "event:hostname", ["one.example.com", "example.com"]]],
        },
        "results": [{"metrics": [2, 2, 100, 0], "dimensions": []}],
    },
    {
        "name": "filtering by event:name",
        "events": [*SIGNUPS, pv(ts=T0)],
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews"],
            "filters": [["is", "event:name", ["Signup"]]],
        },
        "results": [{"metrics": [2, 0], "dimensions": []}],
    },
    {
        "name": "filtering by a custom event goal",
        "events": [*SIGNUPS, ev("NotConfigured", ts=T25)],
        "goals": ["event:Signup"],
        "body": {
            **ALL,
            "metrics": ["visitors", "events"],
            "filters": [["is", "event:goal", ["Signup"]]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
    },
    {
        "name": "filtering by a custom event goal (case insensitive)",
        "events": [*SIGNUPS, ev("NotConfigured", ts=T25)],
        "goals": ["event:Signup"],
        "body": {
            **ALL,
            "metrics": ["visitors", "events"],
            "filters": [["is", "event:goal", ["signup"], {"case_sensitive": False}]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
    },
    {
        "name": "filtering by a revenue goal",
        "events": [
            ev("Purchase", ts=T0),
            ev("Purchase", user=U, ts=T25),
            ev("Purchase", user=U, ts=T25),
        ],
        "goals": ["event:Purchase"],
        "body": {
            **ALL,
            "metrics": ["visitors", "events"],
            "filters": [["is", "event:goal", ["Purchase"]]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
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
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews"],
            "filters": [["is", "event:goal", ["Visit /register"]]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
    },
    {
        "name": "filtering by a wildcard pageview goal",
        "events": [
            pv(path="/blog/post-1"),
            pv(path="/blog/post-2", user=U),
            pv(path="/blog", user=U),
            pv(path="/"),
        ],
        "goals": ["page:/blog**"],
        "body": {
            **ALL,
            "metrics": ["visitors", "pageviews"],
            "filters": [["is", "event:goal", ["Visit /blog**"]]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
    },
    {
        "name": "filtering by multiple custom event goals",
        "events": [ev("Signup"), ev("Purchase", user=U), ev("Purchase", user=U), pv()],
        "goals": ["event:Signup", "event:Purchase"],
        "body": {
            **ALL,
            "metrics": ["visitors", "events"],
            "filters": [["is", "event:goal", ["Signup", "Purchase"]]],
        },
        "results": [{"metrics": [2, 3], "dimensions": []}],
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
        "body": {
            **ALL,
            "metrics": ["visitors", "events", "pageviews"],
            "filters": [["is", "event:goal", ["Signup", "Visit /**register"]]],
        },
        "results": [{"metrics": [2, 3, 2], "dimensions": []}],
    },
    {
        "name": "combining filters",
        "events": [
            pv(path="/blogpost", country="EE", user=U, ts=T0),
            pv(user=U, ts=T25),
            pv(ts=T0),
            pv(path="/blogpost", ts=T0),
        ],
        "body": {
            **ALL,
            "metrics": FOUR,
            "filters": [["is", "event:page", ["/blogpost"]], ["is", "visit:country", ["EE"]]],
        },
        "results": [{"metrics": [1, 1, 0, 1500], "dimensions": []}],
    },
    _visitors("contains page filter", PAGES_EN, [["contains", "event:page", ["/en/"]]], 2),
    _visitors(
        "contains page filter case insensitive",
        PAGES_EN_CASE,
        [["contains", "event:page", ["/En/"], {"case_sensitive": False}]],
        2,
    ),
    _visitors(
        "contains_not page filter case insensitive",
        PAGES_EN_CASE,
        [["contains_not", "event:page", ["/En/"], {"case_sensitive": False}]],
        1,
    ),
    _visitors("contains_not page filter", PAGES_EN, [["contains_not", "event:page", ["/en/"]]], 1),
    _visitors(
        "contains with and/or/not filters",
        [pv(path=p) for p in ("/en/page1", "/en/page2", "/eng/page1", "/pl/page1", "/gb/page1")],
        [
            [
                "or",
                [
                    [
                        "and",
                        [
                            ["contains", "event:page", ["/en"]],
                            ["not", ["contains", "event:page", ["/eng"]]],
                        ],
                    ],
                    ["contains", "event:page", ["/gb"]],
                ],
            ]
        ],
        3,
    ),
    _visitors(
        "contains and member filter combined",
        [*PAGES_EN, pv(path="/ee/page1")],
        [["contains", "event:page", ["/en/", "/pl/"]]],
        3,
    ),
    _visitors(
        "can escape pipe character in member + contains filter",
        [pv(path=p) for p in ("/blog/post|1", "/otherpost|1", "/blog/post|2", "/something-else")],
        [["contains", "event:page", ["post|1", "/something-else"]]],
        3,
    ),
    _visitors("`matches` operator", USER_PAGES, [["matches", "event:page", ["^/user/[0-9]+"]]], 2),
    _visitors(
        "`matches_not` operator", USER_PAGES, [["matches_not", "event:page", ["^/user/[0-9]+"]]], 3
    ),
    _visitors(
        "`contains` and `contains_not` operator with custom properties",
        TIERS,
        [
            ["contains", "event:props:tier", ["small"]],
            ["contains_not", "event:props:value", ["b", "c"]],
        ],
        1,
    ),
    _visitors(
        "`contains` operator with custom properties case insensitive",
        NAMES,
        [["contains", "event:props:name", ["maLL"], {"case_sensitive": False}]],
        4,
    ),
    _visitors(
        "`contains_not` operator with custom properties case insensitive",
        NAMES,
        [["contains_not", "event:props:name", ["maLL"], {"case_sensitive": False}]],
        1,
    ),
    _visitors(
        "`matches` and `matches_not` operator with custom properties",
        [
            {**e, "props": {k: v.rstrip("x") if k == "value" else v for k, v in e["props"].items()}}
            if "props" in e
            else e
            for e in TIERS
        ],
        [
            ["matches", "event:props:tier", ["small.+"]],
            ["matches_not", "event:props:value", ["b|c"]],
        ],
        1,
    ),
    {
        "name": "handles filtering by visit:country",
        "events": [pv(country="EE"), pv(country="EE"), pv(country="EE")],
        "body": {**ALL, "metrics": ["pageviews"], "filters": [["is", "visit:country", ["EE"]]]},
        "results": [{"metrics": [3], "dimensions": []}],
    },
    {
        "name": "handles filtering by visit:country with contains",
        "events": [pv(country="EE"), pv(country="EE"), pv(country="IT"), pv(country="DE")],
        "body": {
            **ALL,
            "metrics": ["pageviews"],
            "filters": [["contains", "visit:country", ["E"]]],
        },
        "results": [{"metrics": [3], "dimensions": []}],
    },
    {
        "name": "handles filtering by visit:city",
        "events": [pv(), pv()],
        "body": {
            **ALL,
            "metrics": ["pageviews"],
            "filters": [["is", "visit:city", [588409, 689123]]],
        },
        "results": [{"metrics": [2], "dimensions": []}],
        "differs": "cities are stored by name, not by GeoNames id: filtering by id is a 400",
    },
]
