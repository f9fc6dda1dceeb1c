"""The web dashboard: sign-in with an API token, a session cookie, the page
and its assets (the chart and the props list: http.dashboard_data).

Everything is served by the daemon (no CDN, nothing fetched at run time).
The session cookie is HttpOnly, SameSite=Strict (the Stats API it unlocks
only answers GETs, and no other site can make the browser send it), Secure
when the request came over HTTPS (a trusted proxy's X-Forwarded-Proto).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

import trio
from quart import Response, redirect, request
from quart_trio import QuartTrio

from analyticsd.core import signin
from analyticsd.core.access import Grant, match, token_hash
from analyticsd.http import dashboard_data
from analyticsd.http.access import client_key, foreign_origin
from analyticsd.http.stats_api import StatsDeps

ASSETS = {
    "/dashboard/app.js": ("app.js", "application/javascript; charset=utf-8"),
    "/dashboard/app.css": ("app.css", "text/css; charset=utf-8"),
    "/dashboard/world.json": ("world.json", "application/json"),
}


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

    dashboard_data.register(app, deps, session, geo)


def _asset(name: str, ctype: str) -> Callable[[], Any]:
    async def serve() -> Response:
        return Response(_static(name), status=200, content_type=ctype,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    return serve
