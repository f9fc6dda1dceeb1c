"""Access to the stats over HTTP: a Bearer token or the dashboard's session
cookie, each standing for a grant (core/access.py), the scope of that grant,
public sites, and the Origin check of state-changing requests.

Messages say what to do, never which part of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from quart import request

from analyticsd.core import signin
from analyticsd.core.access import Epochs, Grant, MemoryEpochs, SignInLimiter, match
from analyticsd.core.config import Config
from analyticsd.core.errors import ForwardedForError
from analyticsd.core.netaddr import Network, client_ip

Denial = tuple[int, str, dict[str, str]]


@dataclass
class AccessDeps:
    grants: Callable[[], tuple[Grant, ...]]
    session_key: bytes
    now_ms: Callable[[], int]
    epochs: Epochs = field(default_factory=MemoryEpochs)
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    trusted: Callable[[], tuple[Network, ...]] = lambda: ()
    monotonic: Callable[[], float] = lambda: 0.0

    def cookie_grant(self, cookie: str) -> Grant | None:
        if not cookie or not self.session_key:
            return None
        now_s = self.now_ms() // 1000
        return signin.valid(self.session_key, cookie, self.grants(), self.epochs.epoch, now_s)


def unknown_site(site_id: str) -> Denial:
    return 404, f"site_id: {site_id!r} is not a configured site", {}


def request_grant(a: AccessDeps) -> Grant | Denial:
    """The grant this request carries: its Bearer token, else its session cookie."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    cookie = request.cookies.get(signin.COOKIE, "")
    if not header and cookie:
        grant = a.cookie_grant(cookie)
        if grant is not None:
            return grant
        return 401, "the session has ended; sign in again", {}
    if not header:
        return (
            401,
            "an API token is required: Authorization: Bearer <token> (see [api] tokens)",
            {"WWW-Authenticate": 'Bearer realm="analyticsd"'},
        )
    if scheme.lower() != "bearer" or not token.strip():
        return (
            401,
            "Authorization must be: Bearer <token>",
            {"WWW-Authenticate": 'Bearer error="invalid_request"'},
        )
    grant = match(token.strip(), a.grants())
    if grant is None:
        return 403, "this API token is not accepted", {}
    return grant


def denial(a: AccessDeps, cfg: Config, site_id: str | None = None) -> Denial | None:
    """Why this request may not read `site_id`'s stats (None: it may).

    Without a site (listing sites, or checked before the body is read) a
    valid grant is enough; the caller checks the site with `site_denial`."""
    if site_id:
        site = cfg.site(site_id)
        if site is not None and site.public:
            return None
    grant = request_grant(a)
    if not isinstance(grant, Grant):
        return grant
    if site_id and not grant.may_read(site_id):
        return unknown_site(site_id)
    return None


def site_denial(a: AccessDeps, site_id: str) -> Denial | None:
    """A scoped grant asking for a site outside its scope: as if unknown."""
    grant = request_grant(a)
    if isinstance(grant, Grant) and not grant.may_read(site_id):
        return unknown_site(site_id)
    return None


def readable_sites(a: AccessDeps, cfg: Config) -> list[str]:
    """The sites this request may read (for the site list)."""
    grant = request_grant(a)
    if not isinstance(grant, Grant):
        return [s.id for s in cfg.sites if s.public]
    return [s.id for s in cfg.sites if grant.may_read(s.id) or s.public]


def foreign_origin() -> str | None:
    """Why a state-changing request comes from another site, or None.

    Browsers send Origin with every POST (and Sec-Fetch-Site); a request
    without either is not a browser's, so no cookie of ours rides on it
    against the user's will."""
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return "this request came from another site"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    host = request.headers.get("X-Forwarded-Host") or request.headers.get("Host", "")
    # Host names only: a proxy may pass Host without the port the browser
    # used (nginx's $host), and another port of this host is not another site.
    ours = urlsplit(f"//{host.strip()}").hostname
    if origin == "null" or urlsplit(origin).hostname != ours or ours is None:
        return f"this request came from another origin ({origin[:80]})"
    return None


def client_key(a: AccessDeps) -> str:
    """Who is signing in, for the attempt limit: a keyed hash of the client's
    address (behind a trusted proxy, the forwarded one), so no address is
    kept, not even in memory."""
    peer = request.remote_addr or ""
    try:
        ip = client_ip(peer, request.headers.get("X-Forwarded-For"), a.trusted())
    except ForwardedForError:
        ip = peer
    return hmac.new(a.session_key, ip.encode(), hashlib.sha256).hexdigest()[:32]
