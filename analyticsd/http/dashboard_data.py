"""What the dashboard reads besides the Stats API: the chart as SVG, the
custom property names of an event, and whether a GeoIP database is set.

Both answer only a signed-in browser (the caller hands in the check) and take
the dashboard's own parameters: the Stats API's `site_id`, `period`, `date`,
`filters`, `interval` and `compare`, plus the chart's `metric` or the props
panel's `event`. A bad parameter is a 400 naming it, as in the Stats API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.buckets import day_range_ms
from analyticsd.core.chart import line_chart
from analyticsd.core.config import Config
from analyticsd.core.errors import QueryError, StatsStoreError
from analyticsd.core.query import Query, parse_query, period_range
from analyticsd.http.stats_api import StatsDeps, StatsStore, custom_metrics

LABELS = {
    "visitors": "Unique visitors",
    "visits": "Visits",
    "pageviews": "Page views",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
}
_CHART_ARGS = ("site_id", "period", "date", "filters", "interval")


def _text(status: int, message: str) -> Response:
    return Response(message, status=status, content_type="text/plain; charset=utf-8")


def shown(metric: str, value: float | None) -> str:
    """A point's value as the cards show it."""
    if value is None:
        return "—"
    if metric == "bounce_rate":
        return f"{value:g}%"
    if metric == "visit_duration":
        v = int(value)
        return (f"{v // 60}m " if v >= 60 else "") + f"{v % 60}s"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _horizon(cfg: Config, deps: StatsDeps) -> int:
    return deps.now_ms() - cfg.storage.raw_event_retention_days * 86_400_000


def register(app: QuartTrio, deps: StatsDeps, signed_in: Callable[[], bool]) -> None:
    @app.get("/dashboard/chart.svg")
    async def chart() -> Response:
        if not signed_in():
            return _text(401, "sign in first")
        cfg = deps.config()
        site = cfg.site(request.args.get("site_id", ""))
        if site is None:
            return _text(404, "unknown site")
        metric = request.args.get("metric", "visitors")
        if metric not in LABELS:
            return _text(400, f"metric: one of {', '.join(LABELS)}")
        args = {k: v for k, v in request.args.items() if k in _CHART_ARGS and v}
        try:
            q = parse_query(
                "timeseries", {**args, "metrics": metric}, site.timezone,
                deps.today(site.timezone), custom_metrics(cfg),
            )  # fmt: skip
            q = replace(q, compare=request.args.get("compare") == "previous_period")
            svg = await deps.run(_chart_work(q, metric, _horizon(cfg, deps)))
        except (QueryError, StatsStoreError) as e:
            return _text(400, str(e))
        return Response(svg, status=200, content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})  # fmt: skip

    @app.get("/dashboard/setup.json")
    async def setup() -> Response:
        # What the page says instead of an empty table: no GeoIP database.
        if not signed_in():
            return _text(401, "sign in first")
        geoip = bool(deps.config().geoip.database)
        return Response(msgspec.json.encode({"geoip": geoip}), status=200,
                        content_type="application/json")  # fmt: skip

    @app.get("/dashboard/props.json")
    async def props() -> Response:
        if not signed_in():
            return _text(401, "sign in first")
        cfg = deps.config()
        site = cfg.site(request.args.get("site_id", ""))
        event = request.args.get("event", "")
        if site is None:
            return _text(404, "unknown site")
        if not event:
            return _text(400, "event: is required")
        try:
            r = period_range(
                request.args.get("period") or "30d",
                request.args.get("date", ""),
                deps.today(site.timezone),
            )
            start = max(day_range_ms(r.first, site.timezone)[0], _horizon(cfg, deps))
            end = day_range_ms(r.last, site.timezone)[1]
            keys = await deps.run(lambda s: s.prop_keys(site.id, event, start, end))
        except (QueryError, StatsStoreError) as e:
            return _text(400, str(e))
        return Response(msgspec.json.encode({"props": keys}), status=200,
                        content_type="application/json")  # fmt: skip


def _chart_work(q: Query, metric: str, horizon: int) -> Callable[[StatsStore], str]:
    def work(store: StatsStore) -> str:
        res: dict[str, Any] = store.answers({}, horizon).timeseries(q)
        points = res["results"]
        comparison = [p["comparison"][metric] or 0 for p in points] if q.compare else None
        return line_chart(
            LABELS[metric],
            [p["date"] for p in points],
            [p[metric] or 0 for p in points],
            comparison,
            [shown(metric, p[metric]) for p in points],
        )

    return work
