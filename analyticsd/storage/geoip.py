"""GeoIP: client IP → country, region, city, from a MaxMind/DB-IP .mmdb file.

City or Country databases both work (a Country database yields no region or
city). No database configured means no geo and no error; a database that is
missing or unreadable is reported with one log line and the daemon runs on
without geo. A lookup never raises: a bad address or a corrupt record is
simply "unknown". The IP is only looked up, never kept.
"""

from __future__ import annotations

import logging
from typing import Any

import maxminddb

from analyticsd.core.geo import NO_GEO, GeoInfo

__all__ = ["NO_GEO", "GeoInfo", "GeoLookup"]
log = logging.getLogger(__name__)


def _name(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    names = node.get("names")
    if isinstance(names, dict):
        name = names.get("en") or next(iter(names.values()), "")
        return str(name)[:128] if isinstance(name, str) else ""
    return ""


class GeoLookup:
    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None
        self._reader: Any = None
        if not path:
            return
        try:
            self._reader = maxminddb.open_database(path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
            self.error = f"GeoIP database {path!r} cannot be used, running without geo: {e}"
            log.error("%s", self.error)

    @property
    def enabled(self) -> bool:
        return self._reader is not None

    def lookup(self, ip: str) -> GeoInfo:
        if self._reader is None or not ip:
            return NO_GEO
        try:
            rec = self._reader.get(ip)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return NO_GEO
        if not isinstance(rec, dict):
            return NO_GEO
        country = rec.get("country")
        code = country.get("iso_code", "") if isinstance(country, dict) else ""
        subs = rec.get("subdivisions")
        region = _name(subs[0]) if isinstance(subs, list) and subs else ""
        return GeoInfo(
            country=code if isinstance(code, str) else "",
            region=region,
            city=_name(rec.get("city")),
        )

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
