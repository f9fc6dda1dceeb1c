"""Ported from Plausible's external_stats_controller/auth_test.exs: keys,
sites and their answers (Plausible's test matches a part of each message).

`headers` replaces the case's Authorization; `site_id` replaces its site
(`site: False` sends none). See v1_cases_aggregate for the case format.
"""

from __future__ import annotations

from typing import Any

INVALID = (
    "Invalid API key or site ID. Please make sure you're using a valid API key with access "
    "to the site you've requested."
)
MISSING = "Missing API key. Please use a valid Plausible API key as a Bearer Token."
PAGEVIEWS = {"site_id": "some-site.com", "metrics": "pageviews"}

CASES: list[dict[str, Any]] = [
    {
        "name": "unauthenticated request - returns 401",
        "events": [],
        "site": False,
        "headers": {},
        "params": PAGEVIEWS,
        "status": 401,
        "error_contains": MISSING,
    },
    {
        "name": "bad API key - returns 401",
        "events": [],
        "site": False,
        "headers": {"Authorization": "Bearer Bad key"},
        "params": PAGEVIEWS,
        "status": 401,
        "error_contains": INVALID,
    },
    {
        "name": "good API key but bad site id - returns 401",
        "events": [],
        "site": False,
        "params": PAGEVIEWS,
        "status": 401,
        "error_contains": INVALID,
    },
    {
        "name": "good API key but missing site id - returns 400",
        "events": [],
        "site": False,
        "params": {"metrics": "pageviews"},
        "status": 400,
        "error_contains": "Missing site ID. Please provide the required site_id parameter "
        "with your request.",
    },
    {
        "name": "can access with correct API key and site ID",
        "events": [],
        "params": {"metrics": "pageviews"},
        "results": {"pageviews": {"value": 0}},
    },
]
