"""Shared links and public sites: the dashboard of one site without a token.

`/share/SITE?auth=SECRET` (a `[[sites.shared_links]]` entry) or `/share/SITE`
(a site with `public = true`) signs the browser in with a grant of that one
site (core.config.link_grants): the dashboard then shows it and nothing
else, and its session cookie cannot stand for anything more. A link with a
password asks for it first (its attempts limited like a sign-in). Removing
the link from the configuration and reloading ends its sessions.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Any
from urllib.parse import quote

from quart import Response, redirect, request
from quart_trio import QuartTrio

from analyticsd.core import signin
from analyticsd.core.access import token_hash
from analyticsd.core.config import SharedLinkConfig, SiteConfig, link_token
from analyticsd.http.access import AccessDeps, client_key, foreign_origin
from analyticsd.http.dashboard import html_page, static_text


def _link(site: SiteConfig, secret: str) -> SharedLinkConfig | None:
    found = None
    for link in site.shared_links:
        if hmac.compare_digest(secret.encode(), link.secret.encode()):
            found = link
    return found


def _password_page(site_id: str, secret: str, error: str = "", status: int = 200) -> Response:
    action = f"/share/{quote(site_id)}?auth={quote(secret)}"
    page = static_text("share.html").replace("<!--ACTION-->", escape(action))
    if error:
        page = page.replace("<!--ERROR-->", f'<p class="error" role="alert">{escape(error)}</p>')
    return html_page(page, status)


def register(app: QuartTrio, config: Any, a: AccessDeps, https: Any) -> None:
    def signed_in(site_id: str, secret: str) -> Any:
        token = link_token(site_id, secret)
        epoch = a.epochs.epoch(token_hash(token))
        resp = redirect(f"/?site={quote(site_id)}", 303)
        resp.set_cookie(
            signin.COOKIE,
            signin.issue(a.session_key, token, epoch, a.now_ms() // 1000),
            max_age=signin.LIFETIME_S,
            httponly=True,
            samesite="Strict",
            secure=https(),
            path="/",
        )
        return resp

    @app.route("/share/<site_id>", methods=["GET", "POST"])
    async def share(site_id: str) -> Any:
        site = config().site(site_id)
        secret = request.args.get("auth", "")
        link = _link(site, secret) if site is not None and secret else None
        if site is None or (link is None and not site.public):
            return html_page("<p>This link is not valid, or it was revoked.</p>", 404)
        if link is None:
            return signed_in(site_id, "")  # a public site
        if not link.password:
            return signed_in(site_id, link.secret)
        if request.method == "GET":
            return _password_page(site_id, secret)
        return await _check_password(site_id, link, signed_in)

    async def _check_password(site_id: str, link: SharedLinkConfig, ok: Any) -> Any:
        foreign = foreign_origin()
        if foreign is not None:
            return _password_page(site_id, link.secret, f"Not shown: {foreign}.", 403)
        who = client_key(a)
        wait = a.limiter.retry_after(who, a.monotonic())
        if wait:
            page = _password_page(site_id, link.secret, f"Too many tries: wait {wait} s.", 429)
            page.headers["Retry-After"] = str(wait)
            return page
        given = (await request.form).get("password", "")
        if not hmac.compare_digest(given.encode(), link.password.encode()):
            a.limiter.failed(who, a.monotonic())
            return _password_page(site_id, link.secret, "That password is not right.", 403)
        return ok(site_id, link.secret)
