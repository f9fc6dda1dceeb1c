"""The OpenAPI description of the Stats API v2 (`POST /api/v2/query`).

Kept apart from http.openapi (v1 and ingest) for size; merged into the one
document served at /api/openapi.json. The request schema follows
core.v2query (the names and values it accepts); the answers are
Plausible's v2 shapes.
"""

from __future__ import annotations

from typing import Any

from analyticsd.core.v2filters import LEAF_OPS
from analyticsd.core.v2query import DATE_RANGES, MAX_LIMIT, METRICS, TIME_DIMS

# What the two metrics of ours (not Plausible's) mean, for both versions.
ENGAGED_TEXT = (
    "engaged_visits: visits of at least 10 s, 2 page views or a conversion; "
    "engagement_rate: engaged_visits / visits, a whole %."
)
# What a [[metrics]] name may compute (core.config MetricConfig).
CUSTOM_TEXT = (
    "A [[metrics]] name is a custom metric of the per-event rows: count, sum, avg, min, max, "
    "percentile (with p 0-100, linear interpolation between the closest ranks), distinct "
    "or ratio; avg, min, max and percentile are null when no event had the value."
)
USER_TEXT = (
    "event:user: the userId the client sent with the event; visit:user: the first userId "
    'among the visit\'s events; "(none)": without one. Never derived from IP or user agent.'
)

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What is wrong, in one line"}},
}
_STR: dict[str, Any] = {"type": "string"}
_FILTER = {
    "type": "array",
    "description": 'A leaf [op, dimension, [values], {"case_sensitive": false}?] with op one '
    f'of {", ".join(LEAF_OPS)}; or ["and"|"or", [filters]]; or ["not", filter]. The '
    "top-level list is an AND. event:goal and event:hostname only at the top level.",
    "minItems": 2,
    "maxItems": 4,
    "items": {},
}
_QUERY = {
    "type": "object",
    "required": ["site_id", "metrics", "date_range"],
    "additionalProperties": False,
    "properties": {
        "site_id": {**_STR, "description": "The site's id from [[sites]]"},
        "metrics": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": _STR,
            "description": f"{', '.join(METRICS)}, or a [[metrics]] name. {ENGAGED_TEXT} "
            + CUSTOM_TEXT,
        },
        "date_range": {
            "oneOf": [
                {
                    **_STR,
                    "description": f"{', '.join(DATE_RANGES)}, Nd (the N days before today) "
                    "or Nmo (the N whole months before this one)",
                },
                {"type": "array", "items": _STR, "minItems": 2, "maxItems": 2},
            ],
            "description": "A name, or [first, last] dates (YYYY-MM-DD) in the site's time zone",
        },
        "date": {**_STR, "description": "YYYY-MM-DD standing in for today (relative ranges)"},
        "dimensions": {
            "type": "array",
            "uniqueItems": True,
            "items": _STR,
            "description": "event:page, event:name, event:goal, event:hostname, "
            "event:props:NAME, event:user, visit:source ... visit:entry_page, visit:user, "
            "or one of " + ", ".join(TIME_DIMS) + ". " + USER_TEXT,
        },
        "filters": {"type": "array", "items": _FILTER},
        "order_by": {
            "type": "array",
            "items": {"type": "array", "items": _STR, "minItems": 2, "maxItems": 2},
            "description": '[[metric or dimension, "asc"|"desc"], ...]; default: time '
            "ascending, then the first metric descending",
        },
        "include": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "imports": {"type": "boolean"},
                "time_labels": {"type": "boolean"},
                "total_rows": {"type": "boolean"},
            },
        },
        "pagination": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                "offset": {"type": "integer", "minimum": 0},
            },
        },
    },
}
_ANSWER = {
    "type": "object",
    "required": ["results", "meta", "query"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["metrics", "dimensions"],
                "properties": {
                    "metrics": {"type": "array", "items": {}},
                    "dimensions": {"type": "array", "items": _STR},
                },
            },
        },
        "meta": {
            "type": "object",
            "properties": {
                "imports_included": {"type": "boolean"},
                "imports_skip_reason": _STR,
                "imports_warning": _STR,
                "time_labels": {"type": "array", "items": _STR},
                "total_rows": {"type": "integer"},
                "metric_warnings": {"type": "object"},
            },
        },
        "query": {"type": "object", "description": "The query as understood; a valid request"},
    },
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def v2_paths() -> dict[str, Any]:
    return {
        "/api/v2/query": {
            "post": {
                "summary": "Plausible's Stats API v2: metrics by any dimensions, nested filters",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _QUERY}},
                },
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": _ANSWER}},
                    },
                    "400": _err("The query is invalid; the message says how"),
                    "401": _err("No bearer token"),
                    "403": _err("The token is not accepted"),
                    "404": _err("Unknown site"),
                    "413": _err("The body is too large"),
                    "503": _err("The question ran past its time limit, or the store failed"),
                },
            }
        }
    }
