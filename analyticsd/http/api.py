"""The Quart app: every non-ingest route (stats, health/status).

It receives its dependencies as plain callables, so it knows nothing of the
actors or the storage behind them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.config import Config
from analyticsd.core.messages import DayStats
from analyticsd.http.access import AccessDeps, denial
from analyticsd.http.openapi import document

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DayStatsQuery = Callable[[str, str], Awaitable[DayStats | None]]
StatusQuery = Callable[[], Awaitable[dict[str, Any]]]
TodayIn = Callable[[str], str]
MetricsText = Callable[[], Awaitable[str]]
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _json(status: int, payload: Any) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def _error(status: int, message: str) -> Response:
    reason = {
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
        405: "Method Not Allowed",
    }.get(status, "Error")  # fmt: skip
    return _json(status, {"statusCode": status, "message": [message], "error": reason})


def create_app(
    config: Callable[[], Config],
    day_stats: DayStatsQuery,
    status: StatusQuery,
    today_in: TodayIn,
    metrics: MetricsText | None = None,
    status_routes: bool = True,
    access: AccessDeps | None = None,
) -> QuartTrio:
    """The public app; `status_routes=False` when an admin listener serves
    /api/health and /metrics instead (http/admin.py)."""
    app = QuartTrio("analyticsd")

    @app.get("/api/stats")
    async def stats() -> Response:
        site_id = request.args.get("siteId", "")
        if not site_id:
            return _error(400, "siteId is required")
        cfg = config()  # the configuration in force (reloads)
        site = cfg.site(site_id)
        denied = denial(access, cfg, site_id) if access is not None else None
        if denied is not None and denied[0] != 404:
            status, message, headers = denied
            resp = _error(status, message)
            resp.headers.update(headers)
            return resp
        if site is None or denied is not None:
            return _error(404, f"siteId {site_id!r} is not a configured site")
        day = request.args.get("date") or today_in(site.timezone)
        if not _DATE.match(day):
            return _error(400, "date must be YYYY-MM-DD")
        result = await day_stats(site_id, day)
        if result is None:
            return _error(404, f"no data for site {site_id!r} on {day}")
        return _json(
            200,
            {
                "siteId": result.site_id,
                "date": result.day,
                "totalViews": result.pageviews,
                "uniqueUsers": result.visitors,
                "topPaths": [{"path": p, "views": n} for p, n in result.top_paths],
                # Beyond the original shape: the visit metrics of the day
                # (visits counted on the day they started) and bot traffic,
                # which is never part of the numbers above.
                "visits": result.visits,
                "bounceRate": round(100 * result.bounces / result.visits) if result.visits else 0,
                "visitDuration": round(result.duration_ms / result.visits / 1000)
                if result.visits
                else 0,
                "botViews": result.bot_pageviews,
            },
        )

    openapi = msgspec.json.encode(document())

    @app.get("/api/openapi.json")
    async def openapi_json() -> Response:
        return Response(openapi, status=200, content_type="application/json")

    if status_routes:
        register_status(app, status, metrics)

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _error(404, f"no route for {request.method} {request.path}")

    @app.errorhandler(405)
    async def not_allowed(e: Exception) -> Response:
        resp = _error(405, f"{request.method} is not allowed on {request.path}")
        allowed = getattr(e, "valid_methods", None) or ["GET"]
        resp.headers["Allow"] = ", ".join(sorted(allowed))  # RFC 9110 requires it on a 405
        return resp

    return app


def register_status(app: QuartTrio, status: StatusQuery, metrics: MetricsText | None) -> None:
    """/api/health (the status report) and /metrics (Prometheus text)."""

    @app.get("/api/health")
    async def health() -> Response:
        return _json(200, await status())

    @app.get("/metrics")
    async def prometheus() -> Response:
        if metrics is None:
            return _error(404, "metrics are not enabled")
        return Response(await metrics(), status=200, content_type=PROMETHEUS_TEXT)
