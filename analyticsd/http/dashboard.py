"""The web dashboard: sign-in with an API token, a session cookie, the page
and its assets (the chart and the props list: http.dashboard_data).

Everything is served by the daemon (no CDN, nothing fetched at run time).
The session cookie is HttpOnly, SameSite=Strict (the Stats API it unlocks
only answers GETs, and no other site can make the browser send it), Secure
when the request came over HTTPS (a trusted proxy's X-Forwarded-Proto).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

from quart import Response, redirect, request
from quart_trio import QuartTrio

from analyticsd.core import signin
from analyticsd.http import dashboard_data
from analyticsd.http.stats_api import StatsDeps

ASSETS = {
    "/dashboard/app.js": ("app.js", "application/javascript; charset=utf-8"),
    "/dashboard/app.css": ("app.css", "text/css; charset=utf-8"),
    "/dashboard/world.json": ("world.json", "application/json"),
}


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
            "Referrer-Policy": "no-referrer",
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


def register(
    app: QuartTrio,
    deps: StatsDeps,
    key: bytes,
    https: Callable[[], bool] = over_https,
    now_s: Callable[[], int] = lambda: int(time.time()),
) -> None:
    def signed_in() -> bool:
        cookie = request.cookies.get(signin.COOKIE, "")
        return bool(cookie) and signin.valid(key, cookie, deps.config().api.tokens, now_s())

    @app.get("/")
    async def index() -> Response:
        return _html(_static("dashboard.html")) if signed_in() else _login_page()

    @app.post("/login")
    async def login() -> Any:
        form = await request.form
        token = form.get("token", "").strip()
        if not token or not signin.token_ok(token, deps.config().api.tokens):
            return _login_page("That token is not accepted.", 403)
        resp = redirect("/", 303)
        resp.set_cookie(
            signin.COOKIE,
            signin.issue(key, token, now_s()),
            max_age=signin.LIFETIME_S,
            httponly=True,
            samesite="Strict",
            secure=https(),
            path="/",
        )
        return resp

    @app.post("/logout")
    async def logout() -> Any:
        resp = redirect("/", 303)
        resp.delete_cookie(signin.COOKIE, path="/", httponly=True, samesite="Strict")
        return resp

    for path, (name, ctype) in ASSETS.items():
        app.add_url_rule(path, f"asset_{name}", _asset(name, ctype), methods=["GET"])

    dashboard_data.register(app, deps, signed_in)


def _asset(name: str, ctype: str) -> Callable[[], Any]:
    async def serve() -> Response:
        return Response(_static(name), status=200, content_type=ctype,
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    return serve
