"""Timezones of sites, cached (zoneinfo lookups are not free on the hot path)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)
