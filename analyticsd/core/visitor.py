"""Cookie-free visitor ids and the daily salt schedule.

A visitor id is a keyed BLAKE2b hash of (site, IP, user agent) under a random
salt that changes every UTC day. Without the salt the id cannot be linked back
to an IP; once the salt is destroyed (after 48 h) not even we can. Only the
current and the previous day's salts may exist at any time.
"""

from __future__ import annotations

import hashlib

DAY_MS = 24 * 3600 * 1000
SALT_BYTES = 32


def salt_day(now_ms: int) -> int:
    """The UTC day number a salt belongs to."""
    return now_ms // DAY_MS


def visitor_id(salt: bytes, site_id: str, ip: str, user_agent: str) -> str:
    h = hashlib.blake2b(digest_size=8, key=salt)
    h.update(site_id.encode())
    h.update(b"\x00")
    h.update(ip.encode())
    h.update(b"\x00")
    h.update(user_agent.encode("utf-8", "replace"))
    return h.hexdigest()


def salts_to_keep(today: int) -> frozenset[int]:
    """Days whose salts may exist: today and yesterday (so sessions cross midnight)."""
    return frozenset({today, today - 1})


SESSION_GAP_MS = 30 * 60 * 1000


class RecentVisitors:
    """Keeps a visitor's id stable across the midnight salt change.

    After midnight the same person hashes to a new id. If the id under the
    previous salt was active in the last 30 minutes, we keep using it (and
    remember the alias), so a visit in progress is not split in two. Bounded:
    the oldest entries are forgotten first.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        from collections import OrderedDict

        self._max = max_entries
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._aliases: OrderedDict[str, str] = OrderedDict()

    def _active(self, visitor: str, ts_ms: int) -> bool:
        last = self._seen.get(visitor)
        return last is not None and 0 <= ts_ms - last <= SESSION_GAP_MS

    def resolve(self, current: str, previous: str | None, ts_ms: int) -> str:
        chosen = self._aliases.get(current)
        if chosen is None:
            chosen = current
            if previous is not None and current not in self._seen and self._active(previous, ts_ms):
                chosen = previous
                self._aliases[current] = previous
                if len(self._aliases) > self._max:
                    self._aliases.popitem(last=False)
        self._seen[chosen] = max(ts_ms, self._seen.get(chosen, ts_ms))
        self._seen.move_to_end(chosen)
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return chosen
