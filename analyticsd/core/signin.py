"""Dashboard sessions: a signed cookie that names no token (pure).

The cookie is `expiry.signature`, the signature an HMAC (daemon key) over the
expiry and a hash of the API token that logged in. A session is valid while
that token is still in `[api] tokens`: removing a token on reload ends its
sessions. Nothing is stored server-side; the token itself never leaves the
login request.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

COOKIE = "analyticsd_session"
LIFETIME_S = 7 * 86_400


def _sign(key: bytes, expiry: int, token: str) -> str:
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    return hmac.new(key, f"{expiry}.{token_hash}".encode(), hashlib.sha256).hexdigest()


def token_ok(given: str, tokens: Iterable[str]) -> bool:
    """Whether `given` is one of `tokens`, compared in constant time with each."""
    ok = False
    for known in tokens:
        ok |= hmac.compare_digest(given.encode(), known.encode())
    return ok


def issue(key: bytes, token: str, now_s: int) -> str:
    expiry = now_s + LIFETIME_S
    return f"{expiry}.{_sign(key, expiry, token)}"


def valid(key: bytes, cookie: str, tokens: Iterable[str], now_s: int) -> bool:
    expiry_text, _, signature = cookie.partition(".")
    if not expiry_text.isdigit() or len(signature) != 64:
        return False
    expiry = int(expiry_text)
    if expiry < now_s:
        return False
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(signature, _sign(key, expiry, token))
    return ok
