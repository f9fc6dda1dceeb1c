"""Ported: Plausible's scroll_depth and time_on_page cases (query_test.exs'
"scroll_depth" block, query_time_on_page_test.exs, the validations of both
metrics). See v2_cases_filters for the case format.

Plausible asked these of `/api/v2/query-internal-test` while the metrics
were internal; its public API has them now, so they are asked of
`/api/v2/query` here. Their `pageleave` fixtures are the `engagement` events
Plausible's tracker sends now (the same scroll depth, at the same time):
ours take only those, with `scrollDepth` and `engagementTime`.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v2_cases_filters import ALL, pv

STORE = (
    "the engagement rows are kept per page only (SITE and PAGE), so no other "
    "dimension can split scroll depth: a 400"
)


def eg(**kw: Any) -> dict[str, Any]:
    return {"name": "engagement", **kw}


def _row(dims: list[Any], metrics: list[Any]) -> dict[str, Any]:
    return {"dimensions": dims, "metrics": metrics}


D0, D1 = "2021-01-01 00:00:00", "2021-01-02 00:00:00"
T0, T1, T2, T3 = (f"2020-01-01 00:0{i}:00" for i in range(4))
DAY2 = "2020-01-02 00:0{}:00"
HOME = [["is", "event:page", ["/"]]]

SCROLL_BY_PAGE = [
    pv(user=12, path="/blog", ts=T0),
    eg(user=12, path="/blog", ts=T1, scroll_depth=20),
    pv(user=12, path="/another", ts=T1),
    eg(user=12, path="/another", ts=T2, scroll_depth=24),
    pv(user=34, path="/blog", ts=T0),
    eg(user=34, path="/blog", ts=T1, scroll_depth=17),
    pv(user=34, path="/another", ts=T1),
    eg(user=34, path="/another", ts=T2, scroll_depth=26),
    pv(user=34, path="/blog", ts=T2),
    eg(user=34, path="/blog", ts=T3, scroll_depth=60),
    pv(user=56, path="/blog", ts=T0),
    eg(user=56, path="/blog", ts=T1, scroll_depth=100),
]

CASES: list[dict[str, Any]] = [
    {
        "name": "can query scroll_depth metric with a page filter",
        "events": [
            pv(user=123, ts=D0),
            eg(user=123, ts="2021-01-01 00:00:10", scroll_depth=40),
            pv(user=123, ts="2021-01-01 00:00:10"),
            eg(user=123, ts="2021-01-01 00:00:20", scroll_depth=60),
            pv(user=456, ts=D0),
            eg(user=456, ts="2021-01-01 00:00:10", scroll_depth=80),
        ],
        "body": {**ALL, "metrics": ["scroll_depth"], "filters": HOME},
        "results": [_row([], [70])],
    },
    {
        "name": "scroll depth is 0 when no pageleave data in range",
        "events": [pv(ts=D0)],
        "body": {**ALL, "metrics": ["visitors", "scroll_depth"], "filters": HOME},
        "results": [_row([], [1, 0])],
        "differs": "no scroll depth is null here, as in Plausible's current answers "
        "(its dashboard query tests: nil); this older test expects 0",
    },
    {
        "name": "scroll_depth metric in a time:day breakdown",
        "events": [
            pv(user=12, ts=T0),
            eg(user=12, ts=T1, scroll_depth=20),
            pv(user=34, ts=T0),
            eg(user=34, ts=T1, scroll_depth=17),
            pv(user=34, ts=T2),
            eg(user=34, ts=T3, scroll_depth=60),
            pv(user=56, ts=DAY2.format(0)),
            eg(user=56, ts=DAY2.format(1), scroll_depth=20),
        ],
        "body": {**ALL, "metrics": ["scroll_depth"], "dimensions": ["time:day"], "filters": HOME},
        "results": [_row(["2020-01-01"], [40]), _row(["2020-01-02"], [20])],
    },
    {
        "name": "breakdown by event:page with scroll_depth metric",
        "events": SCROLL_BY_PAGE,
        "body": {**ALL, "metrics": ["scroll_depth"], "dimensions": ["event:page"]},
        "results": [_row(["/blog"], [60]), _row(["/another"], [25])],
    },
    {
        "name": "breakdown by event:page + visit:source with scroll_depth metric",
        "events": [
            pv(user=12, path="/blog", ts=T0, source="Google"),
            eg(user=12, path="/blog", ts=T1, scroll_depth=20),
            pv(user=34, path="/blog", ts=T0, source="Google"),
            eg(user=34, path="/blog", ts=T1, scroll_depth=17),
            pv(user=34, path="/blog", ts=T2, source="Google"),
            eg(user=34, path="/blog", ts=T3, scroll_depth=60),
            pv(user=56, path="/blog", ts=T0, source="Twitter"),
            eg(user=56, path="/blog", ts=T1, scroll_depth=20),
            pv(user=56, path="/another", ts=T1, source="Twitter"),
            eg(user=56, path="/another", ts=T2, scroll_depth=24),
        ],
        "body": {**ALL, "metrics": ["scroll_depth"], "dimensions": ["event:page", "visit:source"]},
        "results": [
            _row(["/blog", "Google"], [40]),
            _row(["/another", "Twitter"], [24]),
            _row(["/blog", "Twitter"], [20]),
        ],
        "differs": STORE,
    },
    {
        "name": "breakdown by event:page + time:day with scroll_depth metric",
        "events": [
            pv(user=12, path="/blog", ts=T0),
            eg(user=12, path="/blog", ts=T1, scroll_depth=20),
            pv(user=12, path="/another", ts=T1),
            eg(user=12, path="/another", ts=T2, scroll_depth=24),
            pv(user=34, path="/blog", ts=T0),
            eg(user=34, path="/blog", ts=T1, scroll_depth=17),
            pv(user=34, path="/another", ts=T1),
            eg(user=34, path="/another", ts=T2, scroll_depth=26),
            pv(user=34, path="/blog", ts=T2),
            eg(user=34, path="/blog", ts=T3, scroll_depth=60),
            pv(user=56, path="/blog", ts=DAY2.format(0)),
            eg(user=56, path="/blog", ts=DAY2.format(1), scroll_depth=20),
            pv(user=56, path="/another", ts=DAY2.format(1)),
            eg(user=56, path="/another", ts=DAY2.format(2), scroll_depth=24),
        ],
        "body": {**ALL, "metrics": ["scroll_depth"], "dimensions": ["event:page", "time:day"]},
        "results": [
            _row(["/blog", "2020-01-01"], [40]),
            _row(["/another", "2020-01-01"], [25]),
            _row(["/another", "2020-01-02"], [24]),
            _row(["/blog", "2020-01-02"], [20]),
        ],
    },
    {
        "name": "aggregated new_time_on_page metric based on engagement data",
        "events": [
            pv(user=12, path="/blog", ts=D0),
            eg(user=12, path="/blog", ts="2021-01-01 00:10:00", engagement_time=120_000),
            eg(user=12, path="/blog", ts="2021-01-01 00:11:00", engagement_time=20_000),
            pv(user=13, path="/blog", ts="2021-01-01 00:10:00"),
            eg(user=13, path="/blog", ts="2021-01-01 00:10:00", engagement_time=60_000),
        ],
        "body": {**ALL, "metrics": ["time_on_page"], "dimensions": ["event:page"]},
        "results": [_row(["/blog"], [100])],
    },
    {
        "name": "scroll_depth fails validation on its own",
        "events": [],
        "body": {**ALL, "metrics": ["scroll_depth"]},
        "status": 400,
        "error": "Metric `scroll_depth` can only be queried with event:page filters or dimensions.",
    },
    {
        "name": "scroll_depth fails with only a non-top-level event:page filter",
        "events": [],
        "body": {**ALL, "metrics": ["scroll_depth"], "filters": [["not", HOME[0]]]},
        "status": 400,
        "error": "Metric `scroll_depth` can only be queried with event:page filters or dimensions.",
    },
]
