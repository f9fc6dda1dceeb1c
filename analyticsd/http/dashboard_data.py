"""What the dashboard reads besides the Stats API: the chart as SVG, the
custom property names of an event, and whether a GeoIP database is set.

Both answer only a signed-in browser (the caller hands in the check) and take
the dashboard's own parameters: the Stats API's `site_id`, `period`, `date`,
`filters`, `interval` and `compare`, plus the chart's `metric` or the props
panel's `event`. A bad parameter is a 400 naming it, as in the Stats API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.access import Grant
from analyticsd.core.buckets import day_range_ms
from analyticsd.core.chart import line_chart
from analyticsd.core.config import Config
from analyticsd.core.errors import QueryError, StatsStoreError
from analyticsd.core.imported_plan import Goal
from analyticsd.core.query import Query, parse_query, period_range
from analyticsd.http.stats_api import (
    StatsDeps,
    StatsStore,
    custom_metrics,
    site_goals,
    with_imported,
)

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


def _json_response(payload: Any) -> Response:
    return Response(msgspec.json.encode(payload), status=200, content_type="application/json")


def register(
    app: QuartTrio,
    deps: StatsDeps,
    session: Callable[[], Grant | None],
    geo: Callable[[], dict[str, Any]],
) -> None:
    """`session`: the grant of the request's session cookie; `geo`: the
    GeoIP database in use (GeoLookup.describe())."""

    def route(path: str, answer: Callable[[StatsDeps], Awaitable[Response]]) -> None:
        async def view() -> Response:
            grant = session()
            if grant is None:
                return _text(401, "sign in first")
            site_id = request.args.get("site_id")
            if site_id is not None and not grant.may_read(site_id):
                return _text(404, "unknown site")  # as for a site that does not exist
            return await answer(deps)

        app.add_url_rule(path, f"dashboard_{path.rsplit('/', 1)[1]}", view, methods=["GET"])

    async def setup(_: StatsDeps) -> Response:
        return _setup(geo())

    route("/dashboard/chart.svg", _chart)
    route("/dashboard/props.json", _props)
    route("/dashboard/setup.json", setup)


async def _chart(deps: StatsDeps) -> Response:
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
        imports = site_goals(site) if with_imported(request.args) else None
        svg = await deps.run(_chart_work(q, metric, _horizon(cfg, deps), imports))
    except (QueryError, StatsStoreError) as e:
        return _text(400, str(e))
    return Response(svg, status=200, content_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


async def _props(deps: StatsDeps) -> Response:
    """The property names an event carries in the period (per-event rows)."""
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
    return _json_response({"props": keys})


def _setup(info: dict[str, Any]) -> Response:
    # What the page says instead of an empty map or an empty region panel:
    # which kind of database (no file paths for the browser), whether it
    # can be read, and whether it knows cities.
    loaded = bool(info.get("loaded"))
    return _json_response(
        {
            "geoip": loaded and info.get("database") != "off",
            "database": info.get("database"),
            "loaded": loaded,
            "cities": bool(info.get("cities")),
            "package": info.get("package"),
            "license": info.get("license"),
        }
    )


def _chart_work(
    q: Query, metric: str, horizon: int, imports: tuple[Goal, ...] | None
) -> Callable[[StatsStore], str]:
    def work(store: StatsStore) -> str:
        res: dict[str, Any] = store.answers({}, horizon, imports).timeseries(q)
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
