"""Daily visitor salts agreed between the edges of a deployment, through Redis.

Every edge proposes its own random salt for a day with `SET key salt NX
EXAT t`: the first proposal wins and every edge adopts the salt it reads
back, so the same person (same site, IP and user agent) gets the same
visitor id on every edge, and the hub counts one visitor. Only the salt
travels; the IP and the user agent never leave the edge (SPEC §2.4).

The key expires (EXAT) 48 h after its UTC day began, the moment the edges
destroy their own copy (core/visitor.py), so Redis never holds a salt
longer than an edge may. Why not a salt derived from a secret in the config
and the date: whoever reads that config once (a backup, a leaked file) can
recompute every past and future salt, so no salt is ever destroyed and
every visitor id of the hub's database can be re-identified by hashing the
IPv4 space with common user agents. A leaked Redis exposes at most the three
salts alive at that moment, as a leaked salts.json does (README).

Blocking, for `trio.to_thread.run_sync`; redis errors become SaltAgreementError.
"""

from __future__ import annotations

from typing import Any

import redis

from analyticsd.core.errors import SaltAgreementError
from analyticsd.core.visitor import DAY_MS, SALT_BYTES
from analyticsd.storage.canonical import connect

# A salt lives until 48 h after its UTC day began.
LIFETIME_DAYS = 2


class SaltAgreement:
    def __init__(self, url: str, key_prefix: str, timeout_s: float) -> None:
        self.prefix = key_prefix
        self._r = connect(url, timeout_s)

    def agree(self, day: int, proposal: bytes) -> bytes:
        """The deployment's salt of `day`: ours if we are the first to ask."""
        key = f"{self.prefix}:{day}"
        expires_at = (day + LIFETIME_DAYS) * DAY_MS // 1000
        try:
            pipe = self._r.pipeline(transaction=False)
            pipe.set(key, proposal, nx=True, exat=expires_at)
            pipe.get(key)
            _, agreed = pipe.execute()
        except (redis.RedisError, OSError) as e:
            raise SaltAgreementError(f"cannot agree on the salt of day {day}: {e}") from e
        salt: Any = agreed
        if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
            # Expired between the two commands (the day is over), or not ours.
            raise SaltAgreementError(f"no usable shared salt for day {day} under {key}")
        return salt

    def close(self) -> None:
        self._r.close()
