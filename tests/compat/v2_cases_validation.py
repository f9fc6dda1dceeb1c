"""Ported from Plausible's query_validations_test.exs and the validation
cases of query_test.exs: rejected queries and their messages.

See v2_cases_filters for the case format.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v2_cases_filters import ALL, pv


def _rejected(name: str, body: dict[str, Any], error: str, exact: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "events": [],
        "body": body,
        "status": 400,
        **({"error": error} if exact else {"error_contains": error}),
    }


CASES: list[dict[str, Any]] = [
    {
        "name": "can break down by an internal prop key",
        "events": [pv(props={"path": "/a"})],
        "body": {**ALL, "metrics": ["visitors"], "dimensions": ["event:props:path"]},
        "results": [{"dimensions": ["/a"], "metrics": [1]}],
    },
    {
        "name": "can filter by an internal prop key",
        "events": [pv(props={"url": "whatever"})],
        "body": {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:source"],
            "filters": [["is", "event:props:url", ["whatever"]]],
        },
        "results": [{"dimensions": ["Direct / None"], "metrics": [1]}],
    },
    _rejected(
        "does not allow querying conversion_rate without a goal filter",
        {
            **ALL,
            "metrics": ["conversion_rate"],
            "dimensions": ["event:page"],
            "filters": [["is", "event:props:author", ["Uku"]]],
        },
        "Metric `conversion_rate` can only be queried with event:goal filters or dimensions.",
    ),
    _rejected(
        "validates that dimensions are valid",
        {**ALL, "metrics": ["visitors"], "dimensions": ["badproperty"]},
        '#/dimensions/0: Invalid dimension "badproperty"',
    ),
    _rejected(
        "empty custom property is invalid",
        {**ALL, "metrics": ["visitors"], "dimensions": ["event:props:"]},
        '#/dimensions/0: Invalid dimension "event:props:"',
    ),
    _rejected(
        "validates that correct date range is used",
        {"metrics": ["visitors"], "date_range": "bad_period", "dimensions": ["event:name"]},
        '#/date_range: Invalid date range "bad_period"',
    ),
    _rejected(
        "fails when an invalid metric is provided",
        {**ALL, "metrics": ["visitors", "baa"], "dimensions": ["event:name"]},
        '#/metrics/1: Invalid metric "baa"',
    ),
    _rejected(
        "session metrics cannot be used with event:name dimension",
        {**ALL, "metrics": ["visitors", "bounce_rate"], "dimensions": ["event:name"]},
        "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) "
        "`event:name`",
        exact=False,
    ),
    _rejected(
        "session metrics cannot be used with event:props:* dimension",
        {**ALL, "metrics": ["visitors", "bounce_rate"], "dimensions": ["event:props:url"]},
        "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) "
        "`event:props:url`",
        exact=False,
    ),
    _rejected(
        "validates that metric views_per_visit cannot be used with event:page filter",
        {**ALL, "metrics": ["views_per_visit"], "filters": [["is", "event:page", ["/something"]]]},
        "Metric `views_per_visit` cannot be queried with a filter on `event:page`.",
    ),
    _rejected(
        "validates that metric views_per_visit cannot be used together with dimensions",
        {**ALL, "metrics": ["views_per_visit"], "dimensions": ["event:name"]},
        "Metric `views_per_visit` cannot be queried with `dimensions`.",
    ),
    _rejected(
        "validates a metric can't be asked multiple times",
        {**ALL, "metrics": ["views_per_visit", "visitors", "visitors"]},
        "#/metrics: Expected items to be unique but they were not.",
    ),
    {
        **_rejected(
            "handles filtering by visit:country with invalid country code",
            {**ALL, "metrics": ["pageviews"], "filters": [["is", "visit:country", ["USA"]]]},
            "Invalid visit:country filter, visit:country needs to be a valid 2-letter country "
            "code.",
        ),
        "events": [pv(country="EE"), pv(country="EE"), pv(country="IT"), pv(country="DE")],
    },
    # From query_test.exs.
    _rejected(
        "event:goal filter returns 400 when goal not configured",
        {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is", "event:goal", ["Register"]]],
        },
        "The goal `Register` is not configured for this site. Find out how",
        exact=False,
    ),
    _rejected(
        "validates that filters are valid",
        {
            **ALL,
            "metrics": ["visitors"],
            "dimensions": ["visit:browser"],
            "filters": [["is", "badproperty", ["bar"]]],
        },
        "Invalid filter",
        exact=False,
    ),
    _rejected(
        "segment filters are (not yet) available in public API",
        {**ALL, "metrics": ["visitors"], "filters": [["is", "segment", [1]]]},
        '#/filters/0: Invalid filter ["is", "segment", [1]]',
    ),
]
