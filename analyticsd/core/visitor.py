"""Cookie-free visitor ids and the daily salt schedule.

A visitor id is a keyed BLAKE2b hash of (site, IP, user agent) under a random
salt of the site's local day: the same person is one visitor for a whole day
as the site counts days, and a new, unlinkable id the next day. Without the
salt the id cannot be linked back to an IP; once the salt is destroyed not
even we can. Salts are numbered by day (days since 1970-01-01); at any instant
every timezone is on UTC's yesterday, today or tomorrow, so only those three
salts exist, and a salt is destroyed 48 h after its UTC day began.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from datetime import datetime, time
from functools import lru_cache

DAY_MS = 24 * 3600 * 1000
SALT_BYTES = 32
SESSION_GAP_MS = 30 * 60 * 1000
_QUANTUM_MS = 15 * 60 * 1000  # every UTC offset is a multiple of 15 minutes
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def salt_day(now_ms: int) -> int:
    """The UTC day number (the rotation clock)."""
    return now_ms // DAY_MS


@lru_cache(maxsize=4096)
def _local_day(tz_name: str, quantum: int) -> tuple[int, int]:
    tz = zoneinfo.ZoneInfo(tz_name)
    local = datetime.fromtimestamp(quantum * _QUANTUM_MS / 1000, tz)
    midnight = datetime.combine(local.date(), time(0), tzinfo=tz)
    return local.toordinal() - _EPOCH_ORDINAL, int(midnight.timestamp() * 1000)


def local_day(now_ms: int, tz_name: str) -> tuple[int, int]:
    """(the site's local day number, ms since its local midnight) at an instant."""
    day, midnight_ms = _local_day(tz_name, now_ms // _QUANTUM_MS)
    return day, now_ms - midnight_ms


def visitor_id(salt: bytes, site_id: str, ip: str, user_agent: str) -> str:
    h = hashlib.blake2b(digest_size=8, key=salt)
    h.update(site_id.encode())
    h.update(b"\x00")
    h.update(ip.encode())
    h.update(b"\x00")
    h.update(user_agent.encode("utf-8", "replace"))
    return h.hexdigest()


def salts_to_keep(today: int) -> frozenset[int]:
    """Days whose salts may exist while `today` is the UTC day."""
    return frozenset({today - 1, today, today + 1})
