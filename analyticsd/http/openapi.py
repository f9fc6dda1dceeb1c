"""The OpenAPI 3.0 description of the HTTP interface, served at /api/openapi.json.

Written out by hand from the routes (ingest, stats, Stats API v1, health),
and checked against the running daemon by tests/e2e/test_openapi.py, which
generates requests from it and validates every answer against it.
"""

from __future__ import annotations

from typing import Any

from analyticsd import __version__
from analyticsd.core.query import INTERVALS, PERIODS, STANDARD_METRICS

_ERROR = {
    "type": "object",
    "required": ["statusCode", "message", "error"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"},
    },
}
_ANY_NULLABLE: dict[str, Any] = {"nullable": True}
_META = {"type": "object", "properties": {"period": {"type": "array", "items": {"type": "string"}}}}


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(
    name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_SITE = _param("site_id", "The site's id from [[sites]].", required=True)
_PERIOD = _param(
    "period",
    "day, 7d, 30d (default), month, 6mo, 12mo, year, or custom with date=A,B",
    {"type": "string", "enum": list(PERIODS)},
)
_DATE = _param("date", "YYYY-MM-DD anchoring the period (default today); A,B for custom")
_METRICS = _param(
    "metrics",
    "Comma-separated: " + ", ".join(STANDARD_METRICS) + ", or a [[metrics]] name",
)
_FILTERS = _param(
    "filters",
    "PROPERTY==VALUE or PROPERTY!=VALUE, alternatives split by |, joined by ;"
    " (* matches any run of characters)",
)
_COMPARE = _param(
    "compare", "previous_period: add comparison values and change",
    {"type": "string", "enum": ["previous_period"]},
)  # fmt: skip
_METRIC_VALUE = {
    "nullable": True,
    "oneOf": [
        {"type": "number"},
        {"type": "object", "additionalProperties": {"type": "number"}},
    ],
}
_CHANGE = {
    "nullable": True,
    "oneOf": [
        {"type": "number"},
        {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
    ],
}
_COMPARED = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": _METRIC_VALUE,
        "comparison_value": _METRIC_VALUE,
        "change": _CHANGE,
    },
}
_ROW = {"type": "object", "additionalProperties": True}
_NULLABLE_NUMBERS = {"type": "array", "items": {"type": "number", "nullable": True}}


def _stats_get(
    summary: str, params: list[dict[str, Any]], schema: dict[str, Any]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": params,
            "responses": {
                "200": _ok(schema),
                "400": _err("A parameter is invalid; the message names it"),
                "401": _err("No bearer token"),
                "403": _err("The token is not accepted"),
                "404": _err("Unknown site"),
                "503": _err("The question ran past its time limit, or the store failed"),
            },
        }
    }


def document() -> dict[str, Any]:
    common = [_SITE, _PERIOD, _DATE]
    event_props = {
        "siteId": {"type": "string", "minLength": 1},
        "eventType": {"type": "string", "minLength": 1},
        "path": {"type": "string"},
        "url": {"type": "string"},
        "timestamp": {"type": "string", "description": "ISO 8601"},
        "eventId": {"type": "string", "format": "uuid"},
        "referrer": {"type": "string"},
        "props": {"type": "object", "additionalProperties": {"oneOf": [
            {"type": "string"}, {"type": "number"}, {"type": "boolean"}]}},
        "revenue": {"type": "object", "properties": {
            "amount": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "currency": {"type": "string"}}},
        "sessionId": {"type": "string"},
        "userId": {"type": "string"},
        "screenWidth": {"type": "integer"},
    }  # fmt: skip
    ingest_errors = {
        "400": _err("The event is invalid; every problem is listed"),
        "403": _err("Unknown site or origin"),
        "413": _err("Body over server.max_body_bytes"),
        "503": _err("Spool full or shutting down; retry after Retry-After"),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "analyticsd",
            "version": __version__,
            "description": "Self-hosted web analytics: event ingest and a Stats API shaped "
            "like Plausible's v1. Visitors of a range of several days are the sum of each "
            "day's unique visitors (visitor ids rotate daily by design).",
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/event": {
                "post": {
                    "summary": "One event (JSON, or JSON sent as text/plain by sendBeacon)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["siteId", "eventType"],
                                    "properties": event_props,
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": _ok(
                            {
                                "type": "object",
                                "required": ["success", "eventId", "visitorId"],
                                "properties": {
                                    "success": {"type": "boolean"},
                                    "eventId": {"type": "string"},
                                    "visitorId": {"type": "string"},
                                },
                            },
                            "Stored durably",
                        ),
                        **ingest_errors,
                    },
                }
            },
            "/api/batch": {
                "post": {
                    "summary": "Up to 500 events, each validated on its own",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "maxItems": 500,
                                            "items": {"type": "object", "properties": event_props},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": _ok(
                            {
                                "type": "object",
                                "required": ["success", "accepted", "rejected"],
                                "properties": {
                                    "success": {"type": "boolean"},
                                    "accepted": {"type": "array", "items": _ROW},
                                    "rejected": {"type": "array", "items": _ROW},
                                },
                            },
                            "The valid events are stored durably",
                        ),
                        **ingest_errors,
                    },
                }
            },
            "/api/stats": {
                "get": {
                    "summary": "One day of one site (no token)",
                    "parameters": [
                        _param("siteId", "The site", required=True),
                        _param("date", "YYYY-MM-DD in the site's timezone (default today)"),
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "required": [
                                    "siteId",
                                    "date",
                                    "totalViews",
                                    "uniqueUsers",
                                    "topPaths",
                                ],
                                "properties": {
                                    "siteId": {"type": "string"},
                                    "date": {"type": "string"},
                                    "totalViews": {"type": "integer"},
                                    "uniqueUsers": {"type": "integer"},
                                    "topPaths": {"type": "array", "items": _ROW},
                                },
                            }
                        ),
                        "400": _err("Bad parameter"),
                        "404": _err("Unknown site or no data that day"),
                    },
                }
            },
            "/api/health": {
                "get": {
                    "summary": "Spool, forwarder and aggregator state",
                    "responses": {"200": _ok({"type": "object"})},
                }
            },
            "/api/v1/stats/aggregate": _stats_get(
                "Metrics over the whole period",
                [*common, _METRICS, _FILTERS, _COMPARE],
                {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {"type": "object", "additionalProperties": _COMPARED},
                        "comparison_period": {"type": "array", "items": {"type": "string"}},
                        "meta": _META,
                    },
                },
            ),
            "/api/v1/stats/timeseries": _stats_get(
                "Metrics per minute, hour, date, week (Monday) or month",
                [
                    *common,
                    _METRICS,
                    _FILTERS,
                    _param(
                        "interval",
                        "minute, hour, date, week, month",
                        {"type": "string", "enum": list(INTERVALS)},
                    ),
                    _COMPARE,
                ],
                {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["date"],
                                "properties": {"date": {"type": "string"}},
                            },
                        },
                        "comparison_period": {"type": "array", "items": {"type": "string"}},
                        "meta": _META,
                    },
                },
            ),
            "/api/v1/stats/breakdown": _stats_get(
                "Metrics per value of a property, best first",
                [
                    *common,
                    _METRICS,
                    _FILTERS,
                    _param(
                        "property",
                        "event:page, event:goal, event:props:NAME, visit:source ...",
                        required=True,
                    ),
                    _COMPARE,
                    _param(
                        "limit",
                        "Rows per page (1-1000, default 100)",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                    ),
                    _param("page", "Page number (default 1)", {"type": "integer", "minimum": 1}),
                ],
                {
                    "type": "object",
                    "required": ["results", "total_rows"],
                    "properties": {
                        "results": {"type": "array", "items": _ROW},
                        "total_rows": {"type": "integer"},
                        "comparison_period": {"type": "array", "items": {"type": "string"}},
                        "meta": _META,
                    },
                },
            ),
            "/api/v1/stats/realtime/visitors": _stats_get(
                "Visitors with an event in the last 5 minutes",
                [_SITE],
                {"type": "integer"},
            ),
            "/api/v1/stats/rollups": _stats_get(
                "Whole weeks (Monday) or months with growth against the period before",
                [
                    *common,
                    _METRICS,
                    _FILTERS,
                    _param(
                        "interval", "week or month", {"type": "string", "enum": ["week", "month"]}
                    ),
                ],
                {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "period",
                                    "start",
                                    "end",
                                    "days",
                                    "complete",
                                    "growth",
                                ],
                                "properties": {
                                    "period": {"type": "string"},
                                    "start": {"type": "string"},
                                    "end": {"type": "string"},
                                    "days": {"type": "integer"},
                                    "complete": {"type": "boolean"},
                                    "daily_average": {"type": "object"},
                                    "growth": {"type": "object"},
                                },
                            },
                        },
                        "comparison_period": {"type": "string"},
                        "meta": _META,
                    },
                },
            ),
            "/api/v1/stats/funnel": _stats_get(
                "Conversion through ordered steps",
                [
                    *common,
                    _param("funnel", "A funnel name from [[sites.funnels]]"),
                    _param(
                        "steps",
                        'JSON: [{"page": "/"}, {"event": "Signup", "props": {"plan": "pro"}}]',
                    ),
                    _param(
                        "window_s",
                        "Conversion window in seconds (default 86400)",
                        {"type": "integer", "minimum": 1},
                    ),
                    _param(
                        "order",
                        "loose (default) or strict",
                        {"type": "string", "enum": ["loose", "strict"]},
                    ),
                    _param(
                        "by",
                        "visitor (default) or user (userId)",
                        {"type": "string", "enum": ["visitor", "user"]},
                    ),
                ],
                {
                    "type": "object",
                    "required": ["steps", "overall_conversion_rate"],
                    "properties": {
                        "name": {"type": "string"},
                        "order": {"type": "string"},
                        "window_s": {"type": "integer"},
                        "by": {"type": "string"},
                        "steps": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "visitors", "conversion_rate", "drop_off"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "visitors": {"type": "integer"},
                                    "conversion_rate": {"type": "number"},
                                    "conversion_rate_total": {"type": "number"},
                                    "drop_off": {"type": "integer"},
                                    "drop_off_rate": {"type": "number"},
                                    "avg_time_from_previous_s": {
                                        "type": "number",
                                        "nullable": True,
                                    },
                                },
                            },
                        },
                        "overall_conversion_rate": {"type": "number"},
                        "avg_time_to_convert_s": {"type": "number", "nullable": True},
                        "meta": _META,
                    },
                },
            ),
            "/api/v1/stats/retention": _stats_get(
                "Retention cohorts of users (userId)",
                [
                    *common,
                    _param(
                        "cohort",
                        "day, week (default) or month",
                        {"type": "string", "enum": ["day", "week", "month"]},
                    ),
                    _param(
                        "periods",
                        "Periods after the cohort's (1-60, default 8)",
                        {"type": "integer", "minimum": 1, "maximum": 60},
                    ),
                    _param("start_event", "Event that puts a user in a cohort (default any)"),
                    _param("return_event", "Event that counts as a return (default any)"),
                ],
                {
                    "type": "object",
                    "required": ["cohorts", "overall"],
                    "properties": {
                        "cohort": {"type": "string"},
                        "periods": {"type": "integer"},
                        "cohorts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["cohort", "size", "retained", "retention"],
                                "properties": {
                                    "cohort": {"type": "string"},
                                    "size": {"type": "integer"},
                                    "retained": {
                                        "type": "array",
                                        "items": {"type": "integer", "nullable": True},
                                    },
                                    "retention": _NULLABLE_NUMBERS,
                                },
                            },
                        },
                        "overall": _NULLABLE_NUMBERS,
                        "meta": _META,
                    },
                },
            ),
        },
    }
