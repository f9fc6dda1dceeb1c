"""The OpenAPI 3.0 description of the HTTP interface, served at /api/openapi.json.

Written out by hand from the routes (ingest, stats, Stats API v1, health;
v2 in http.openapi_v2),
and checked against the running daemon by tests/e2e/test_openapi.py, which
generates requests from it and validates every answer against it.
"""

from __future__ import annotations

from typing import Any

from analyticsd import __version__
from analyticsd.core.query import INTERVALS, PERIODS, STANDARD_METRICS
from analyticsd.http.openapi_v2 import CUSTOM_TEXT, ENGAGED_TEXT, USER_TEXT, v2_paths

_ERROR = {
    "type": "object",
    "required": ["statusCode", "message", "error"],
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"},
    },
}
# The Stats API v1 answers Plausible's shape, which its clients read.
_V1_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What is wrong, in one line"}},
}
_META = {"type": "object", "properties": {"period": {"type": "array", "items": {"type": "string"}}}}


def _err(description: str, schema: str = "Error") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
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
    "Comma-separated: "
    + ", ".join(STANDARD_METRICS)
    + ", or a [[metrics]] name. "
    + ENGAGED_TEXT
    + " "
    + CUSTOM_TEXT,
)
_FILTERS = _param(
    "filters",
    "PROPERTY==VALUE or PROPERTY!=VALUE, alternatives split by |, joined by ;"
    " (* matches any run of characters). Properties as for a breakdown, event:user and"
    " visit:user too. " + USER_TEXT,
)
_COMPARE = _param(
    "compare", "previous_period: add comparison values and change",
    {"type": "string", "enum": ["previous_period"]},
)  # fmt: skip
_WITH_IMPORTED = _param(
    "with_imported", "true: add the imported history (analyticsd import plausible)",
    {"type": "string", "enum": ["true", "false"]},
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
STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OBJ: dict[str, Any] = {"type": "object"}


def _obj(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _choice(name: str, description: str, values: list[str]) -> dict[str, Any]:
    return _param(name, description, {"type": "string", "enum": values})


def _int_param(name: str, description: str, lo: int, hi: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": lo}
    if hi is not None:
        schema["maximum"] = hi
    return _param(name, description, schema)


_NULLABLE_NUMBERS = {"type": "array", "items": {"type": "number", "nullable": True}}
_LABELS = {"type": "array", "items": {"type": "string"}}


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
                "400": _err("A parameter is invalid; the message names it", "V1Error"),
                "401": _err("No key, a key not accepted, or a site the key cannot read", "V1Error"),
                "503": _err("The question ran past its time limit, or the store failed", "V1Error"),
            },
        }
    }


def _ingest_paths() -> dict[str, Any]:
    event = {
        "siteId": {"type": "string", "minLength": 1},
        "eventType": {"type": "string", "minLength": 1},
        "path": STR,
        "url": STR,
        "timestamp": {"type": "string", "description": "ISO 8601"},
        "eventId": {"type": "string", "format": "uuid"},
        "referrer": STR,
        "props": {
            "type": "object",
            "additionalProperties": {"oneOf": [STR, NUM, BOOL]},
        },
        "revenue": {
            "type": "object",
            "properties": {"amount": {"oneOf": [STR, NUM]}, "currency": STR},
        },
        "sessionId": STR,
        "userId": STR,
        "screenWidth": INT,
        "scrollDepth": {
            "type": "integer",
            "minimum": 0,
            "description": "engagement events only: the page's deepest scroll, % (over 100 is 100)",
        },
        "engagementTime": {
            "type": "integer",
            "minimum": 0,
            "description": "engagement events only: engaged ms since the last one (cut to 30 min)",
        },
    }
    errors = {
        "400": _err("The event is invalid; every problem is listed"),
        "403": _err("Unknown site or origin"),
        "413": _err("Body over server.max_body_bytes"),
        "503": _err("Spool full or shutting down; retry after Retry-After"),
    }

    def post(summary: str, body: dict[str, Any], ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                },
                "responses": {"202": _ok(ok, "Stored durably"), **errors},
            }
        }

    return {
        "/api/event": post(
            "One event (JSON, or JSON sent as text/plain by sendBeacon)",
            {**_obj(["siteId", "eventType"]), "properties": event},
            _obj(["success", "eventId", "visitorId"], success=BOOL, eventId=STR, visitorId=STR),
        ),
        "/api/batch": post(
            "Up to 500 events, each validated on its own",
            _obj(
                ["events"],
                events={**_arr({"type": "object", "properties": event}), "maxItems": 500},
            ),
            _obj(
                ["success", "accepted", "rejected"],
                success=BOOL,
                accepted=_arr(_ROW),
                rejected=_arr(_ROW),
            ),
        ),
    }


def _day_paths() -> dict[str, Any]:
    day = _obj(
        ["siteId", "date", "totalViews", "uniqueUsers", "topPaths"],
        siteId=STR, date=STR, totalViews=INT, uniqueUsers=INT, topPaths=_arr(_ROW),
    )  # fmt: skip
    return {
        "/api/stats": {
            "get": {
                "summary": "One day of one site (no token)",
                "parameters": [
                    _param("siteId", "The site", required=True),
                    _param("date", "YYYY-MM-DD in the site's timezone (default today)"),
                ],
                "responses": {
                    "200": _ok(day),
                    "400": _err("Bad parameter"),
                    "404": _err("Unknown site or no data that day"),
                },
            }
        },
        "/api/health": {
            "get": {
                "summary": "Spool, forwarder and aggregator state",
                "responses": {"200": _ok(OBJ)},
            }
        },
    }


def _v1_paths() -> dict[str, Any]:
    common = [_SITE, _PERIOD, _DATE]
    # warning: with_imported=true and a question imports cannot answer.
    compared = {"comparison_period": _LABELS, "meta": _META, "warning": STR}
    point = _obj(["date"], date=STR)
    period = _obj(
        ["period", "start", "end", "days", "complete", "growth"],
        period=STR, start=STR, end=STR, days=INT, complete=BOOL, daily_average=OBJ, growth=OBJ,
    )  # fmt: skip
    step = _obj(
        ["name", "visitors", "conversion_rate", "drop_off"],
        name=STR, visitors=INT, conversion_rate=NUM, conversion_rate_total=NUM, drop_off=INT,
        drop_off_rate=NUM, avg_time_from_previous_s=_nullable(NUM),
    )  # fmt: skip
    cohort = _obj(
        ["cohort", "size", "retained", "retention"],
        cohort=STR, size=INT, retained=_arr(_nullable(INT)), retention=_NULLABLE_NUMBERS,
    )  # fmt: skip
    interval = _choice(
        "interval",
        "minute, hour, date (or day), week, month; default hour for period=day, month for "
        "6mo/12mo/year, else date",
        list(INTERVALS),
    )
    site = _obj(["id", "timezone", "funnels"], id=STR, timezone=STR, funnels=_arr(STR))
    return {
        "/api/v1/sites": _stats_get(
            "The configured sites (with their funnels) and custom metrics",
            [],
            _obj(["sites", "metrics"], sites=_arr(site), metrics=_arr(STR)),
        ),
        "/api/v1/stats/aggregate": _stats_get(
            "Metrics over the whole period",
            [*common, _METRICS, _FILTERS, _COMPARE, _WITH_IMPORTED],
            _obj(
                ["results"],
                results={"type": "object", "additionalProperties": _COMPARED},
                **compared,
            ),
        ),
        "/api/v1/stats/timeseries": _stats_get(
            "Metrics per minute, hour, date, week (Monday) or month",
            [*common, _METRICS, _FILTERS, interval, _COMPARE, _WITH_IMPORTED],
            _obj(["results"], results=_arr(point), **compared),
        ),
        "/api/v1/stats/breakdown": _stats_get(
            "Metrics per value of a property, best first",
            [
                *common,
                _METRICS,
                _FILTERS,
                _param(
                    "property",
                    "event:page, event:goal, event:props:NAME, event:user, visit:source ..., "
                    "visit:user. " + USER_TEXT,
                    required=True,
                ),
                _COMPARE,
                _WITH_IMPORTED,
                _int_param("limit", "Rows per page (default 100)", 1, 1000),
                _int_param("page", "Page number (default 1)", 1, 1_000_000),
            ],
            _obj(["results", "total_rows"], results=_arr(_ROW), total_rows=INT, **compared),
        ),
        "/api/v1/stats/realtime/visitors": _stats_get(
            "Visitors with an event in the last 5 minutes",
            [
                _SITE,
                *(
                    _param(name, "Accepted and ignored, as by Plausible")
                    for name in ("period", "date", "metrics", "filters", "property", "interval")
                ),
            ],
            INT,
        ),
        "/api/v1/stats/rollups": _stats_get(
            "Whole weeks (Monday) or months with growth against the period before",
            [*common, _METRICS, _FILTERS, _choice("interval", "week or month", ["week", "month"])],
            _obj(["results"], results=_arr(period), comparison_period=STR, meta=_META),
        ),
        "/api/v1/stats/funnel": _stats_get(
            "Conversion through ordered steps",
            [
                *common,
                _param("funnel", "A funnel name from [[sites.funnels]]"),
                _param(
                    "steps", 'JSON: [{"page": "/"}, {"event": "Signup", "props": {"plan": "pro"}}]'
                ),
                _int_param(
                    "window_s", "Conversion window in seconds (default 86400)", 1, 90 * 86400
                ),
                _choice("order", "loose (default) or strict", ["loose", "strict"]),
                _choice("by", "visitor (default) or user (userId)", ["visitor", "user"]),
            ],
            _obj(
                ["steps", "overall_conversion_rate"],
                name=STR,
                order=STR,
                window_s=INT,
                by=STR,
                steps=_arr(step),
                overall_conversion_rate=NUM,
                avg_time_to_convert_s=_nullable(NUM),
                meta=_META,
            ),
        ),
        "/api/v1/stats/retention": _stats_get(
            "Retention cohorts of users (userId)",
            [
                *common,
                _choice("cohort", "day, week (default) or month", ["day", "week", "month"]),
                _int_param("periods", "Periods after the cohort's (default 8)", 1, 60),
                _param("start_event", "Event that puts a user in a cohort (default any)"),
                _param("return_event", "Event that counts as a return (default any)"),
            ],
            _obj(
                ["cohorts", "overall"],
                cohort=STR,
                periods=INT,
                cohorts=_arr(cohort),
                overall=_NULLABLE_NUMBERS,
                meta=_META,
            ),
        ),
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "analyticsd",
            "version": __version__,
            "description": "Self-hosted web analytics: event ingest and a Stats API shaped "
            "like Plausible's v1 and v2. Visitors of a range of several days are the sum of each "
            "day's unique visitors (visitor ids rotate daily by design).",
        },
        "components": {
            "schemas": {"Error": _ERROR, "V1Error": _V1_ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {**_ingest_paths(), **_day_paths(), **_v1_paths(), **v2_paths()},
    }
