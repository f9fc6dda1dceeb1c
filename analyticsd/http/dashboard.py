"""The web dashboard: sign-in with an API token, a session cookie, the page
and its assets, and the server-rendered chart.

Everything is served by the daemon (no CDN, nothing fetched at run time).
The session cookie is HttpOnly, SameSite=Strict (the Stats API it unlocks
only answers GETs, and no other site can make the browser send it), Secure
when the request came over HTTPS (a trusted proxy's X-Forwarded-Proto).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

import trio
from quart import Response, redirect, request
from quart_trio import QuartTrio

from analyticsd.core import signin
from analyticsd.core.access import Grant, match, token_hash
from analyticsd.core.chart import line_chart
from analyticsd.core.config import Config
from analyticsd.core.errors import QueryError, StatsStoreError
from analyticsd.core.query import parse_query
from analyticsd.http.access import client_key, foreign_origin
from analyticsd.http.stats_api import StatsDeps, StatsStore, custom_metrics

ASSETS = {
    "/dashboard/app.js": ("app.js", "application/javascript; charset=utf-8"),
    "/dashboard/app.css": ("app.css", "text/css; charset=utf-8"),
}
_LABELS = {"visitors": "Unique visitors", "visits": "Visits", "pageviews": "Page views"}


def static_text(name: str) -> str:
    return _static(name).decode()


def html_page(body: bytes | str, status: int = 200) -> Response:
    """An HTML page with the dashboard's security headers."""
    return _html(body, status)


@lru_cache(maxsize=8)
def _static(name: str) -> bytes:
    return resources.files("analyticsd.http").joinpath(f"static/{name}").read_bytes()


def _html(body: bytes | str, status: int = 200) -> Response:
    return Response(
        body,
        status=status,
        content_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            # Not "no-referrer": under it a browser sends `Origin: null` with
            # the sign-in form, which the Origin check must refuse (a foreign
            # page can send that too). Other sites still get no referrer.
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def _login_page(error: str = "", status: int = 200) -> Response:
    page = _static("login.html").decode()
    if error:
        page = page.replace("<!--ERROR-->", f'<p class="error" role="alert">{escape(error)}</p>')
    return _html(page, status)


def over_https() -> bool:
    """Whether the request came over HTTPS (directly, or says a proxy)."""
    return request.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https"


def _no_geo_info() -> dict[str, Any]:
    return {"database": "off", "cities": False}


def register(
    app: QuartTrio,
    deps: StatsDeps,
    https: Callable[[], bool] = over_https,
    geo: Callable[[], dict[str, Any]] = _no_geo_info,
) -> None:
    """`geo`: the GeoIP database in use (GeoLookup.describe()), so the
    region and city panels can say when they need a City database."""
    a = deps.access

    def session() -> Grant | None:
        return a.cookie_grant(request.cookies.get(signin.COOKIE, ""))

    @app.get("/")
    async def index() -> Response:
        return _html(_static("dashboard.html")) if session() is not None else _login_page()

    @app.post("/login")
    async def login() -> Any:
        foreign = foreign_origin()
        if foreign is not None:
            return _login_page(f"Not signed in: {foreign}.", 403)
        who = client_key(a)
        wait = a.limiter.retry_after(who, a.monotonic())
        if wait:
            page = _login_page(f"Too many failed sign-ins: try again in {wait} s.", 429)
            page.headers["Retry-After"] = str(wait)
            return page
        form = await request.form
        grant = match(form.get("token", "").strip(), a.grants())
        if grant is None:
            a.limiter.failed(who, a.monotonic())
            return _login_page("That token is not accepted.", 403)
        epoch = a.epochs.epoch(token_hash(grant.token))
        resp = redirect("/", 303)
        resp.set_cookie(
            signin.COOKIE,
            signin.issue(a.session_key, grant.token, epoch, a.now_ms() // 1000),
            max_age=signin.LIFETIME_S,
            httponly=True,
            samesite="Strict",
            secure=https(),
            path="/",
        )
        return resp

    @app.post("/logout")
    async def logout() -> Any:
        if foreign_origin() is not None:
            return Response("refused: a sign-out from another site", status=403)
        grant = session()
        if grant is not None and not grant.shared:
            # Every session of this token ends, this cookie and its copies.
            # (Not for a shared link: its other viewers keep theirs, and the
            # link signs anyone in again anyway.)
            await trio.to_thread.run_sync(a.epochs.bump, token_hash(grant.token))
        resp = redirect("/", 303)
        resp.delete_cookie(signin.COOKIE, path="/", httponly=True, samesite="Strict")
        return resp

    for path, (name, ctype) in ASSETS.items():
        app.add_url_rule(path, f"asset_{name}", _asset(name, ctype), methods=["GET"])

    @app.get("/dashboard/geo.json")
    async def geo_info() -> Any:
        if session() is None:
            return Response("sign in first", status=401, content_type="text/plain")
        info = geo()
        # No file paths for the browser: which kind of database, and whether
        # it knows cities.
        return {
            "database": info.get("database"),
            "loaded": bool(info.get("loaded")),
            "cities": bool(info.get("cities")),
            "package": info.get("package"),
            "license": info.get("license"),
        }

    @app.get("/dashboard/chart.svg")
    async def chart() -> Response:
        grant = session()
        if grant is None:
            return Response("sign in first", status=401, content_type="text/plain")
        cfg = deps.config()
        site = cfg.site(request.args.get("site_id", ""))
        if site is None or not grant.may_read(site.id):
            return Response("unknown site", status=404, content_type="text/plain")
        metric = request.args.get("metric", "visitors")
        if metric not in _LABELS:
            return Response("metric: visitors, visits or pageviews", status=400)
        args = {k: v for k, v in request.args.items() if k in ("site_id", "period", "date")}
        try:
            q = parse_query(
                "timeseries", {**args, "metrics": metric}, site.timezone,
                deps.today(site.timezone), custom_metrics(cfg),
            )  # fmt: skip
            q = replace(q, compare=request.args.get("compare") == "previous_period")
            svg = await deps.run(_chart_work(q, metric, _horizon(cfg, deps)))
        except (QueryError, StatsStoreError) as e:
            return Response(str(e), status=400, content_type="text/plain")
        return Response(svg, status=200, content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


def _asset(name: str, ctype: str) -> Callable[[], Any]:
    async def serve() -> Response:
        return Response(_static(name), status=200, content_type=ctype,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    return serve


def _horizon(cfg: Config, deps: StatsDeps) -> int:
    return deps.now_ms() - cfg.storage.raw_event_retention_days * 86_400_000


def _chart_work(q: Any, metric: str, horizon: int) -> Callable[[StatsStore], str]:
    def work(store: StatsStore) -> str:
        res = store.answers({}, horizon).timeseries(q)
        points = res["results"]
        comparison = [p["comparison"][metric] or 0 for p in points] if q.compare else None
        return line_chart(
            _LABELS[metric],
            [p["date"] for p in points],
            [p[metric] for p in points],
            comparison,
        )

    return work
