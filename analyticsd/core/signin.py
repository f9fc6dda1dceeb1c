"""Dashboard sessions: a signed cookie that names no token (pure).

The cookie is `expiry.epoch.signature`, the signature an HMAC (daemon key)
over the expiry, the epoch and a hash of the API token that signed in.

* A session is valid while that token is still a grant: removing a token on
  reload ends its sessions.
* Each token has a session epoch (kept in the data dir, storage/access_files):
  signing out moves it on, which ends every session of that token at once,
  so a cookie copied before the sign-out is worth nothing after it.
* The token itself never leaves the sign-in request; the epochs are kept by
  the token's hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from analyticsd.core.access import Grant, token_hash

COOKIE = "analyticsd_session"
LIFETIME_S = 7 * 86_400

EpochOf = Callable[[str], int]  # token hash → its current session epoch


def _sign(key: bytes, expiry: int, epoch: int, token: str) -> str:
    text = f"{expiry}.{epoch}.{token_hash(token)}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def issue(key: bytes, token: str, epoch: int, now_s: int) -> str:
    expiry = now_s + LIFETIME_S
    return f"{expiry}.{epoch}.{_sign(key, expiry, epoch, token)}"


def valid(
    key: bytes, cookie: str, grants: Iterable[Grant], epoch_of: EpochOf, now_s: int
) -> Grant | None:
    """The grant a cookie stands for, or None (expired, signed out, forged,
    or its token removed)."""
    expiry_text, _, rest = cookie.partition(".")
    epoch_text, _, signature = rest.partition(".")
    if not (expiry_text.isdigit() and epoch_text.isdigit()) or len(signature) != 64:
        return None
    expiry, epoch = int(expiry_text), int(epoch_text)
    if expiry < now_s:
        return None
    found = None
    for g in grants:
        if hmac.compare_digest(signature, _sign(key, expiry, epoch, g.token)):
            found = g
    if found is None or epoch_of(token_hash(found.token)) != epoch:
        return None
    return found
