"""GeoIP: client IP → country, region, city, from an .mmdb file.

`[geoip] database` picks the file:

* "" (the default): the bundled country database (analyticsd/geodata/, a
  free IP-to-country database fetched at install time; countries only);
* "none": no geo at all;
* a path: that MaxMind GeoLite2/GeoIP2 or DB-IP City or Country file, instead
  of the bundled one (a City database adds regions and cities).

A database that is missing or unreadable is reported with one log line (and
in status) and the daemon runs on without geo. A lookup never raises: a bad
address or a corrupt record is simply "unknown". The IP is only looked up,
never kept.
"""

from __future__ import annotations

import logging
import os
import tomllib
from functools import cache
from importlib import resources
from typing import Any

import maxminddb

from analyticsd.core.geo import NO_GEO, GeoInfo, not_locatable

__all__ = ["NO_GEO", "OFF", "GeoInfo", "GeoLookup", "bundled_path"]
log = logging.getLogger(__name__)

OFF = "none"  # `[geoip] database = "none"`: geo off
BUNDLED_FILE = "country.mmdb"
# Metadata database_type words of databases that hold regions and cities:
# GeoLite2-City, GeoIP2-City, GeoIP2-Enterprise, DBIP-City-Lite,
# DBIP-Location(-ISP) ...
_CITY_TYPES = ("city", "enterprise", "location")


def bundled_path() -> str:
    return str(resources.files("analyticsd.geodata").joinpath(BUNDLED_FILE))


@cache
def bundled_manifest() -> dict[str, Any]:
    """What analyticsd/geodata/bundled.toml pins (package, version, licence)."""
    text = resources.files("analyticsd.geodata").joinpath("bundled.toml").read_text()
    return tomllib.loads(text)


def _name(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    names = node.get("names")
    if isinstance(names, dict):
        name = names.get("en") or next(iter(names.values()), "")
        return str(name)[:128] if isinstance(name, str) else ""
    return ""


def _country(rec: dict[str, Any]) -> str:
    country = rec.get("country")
    # MaxMind and DB-IP: {"country": {"iso_code": "DE"}}; ip-location-db (the
    # bundled one): {"country_code": "DE"}.
    code = country.get("iso_code") if isinstance(country, dict) else rec.get("country_code")
    return code if isinstance(code, str) else ""


def _file_id(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class GeoLookup:
    def __init__(self, database: str, *, quiet: bool = False) -> None:
        """`database` as configured ("", "none" or a path). `quiet`: a
        database that cannot be used is not logged (offline status)."""
        self.setting = database
        self.source = "off" if database == OFF else "bundled" if not database else "configured"
        self.path = "" if self.source == "off" else database or bundled_path()
        self.error: str | None = None
        self._reader: Any = None
        self._meta: Any = None
        # The bundled database places some private and documentation blocks
        # in a country (core/geo.py); configured ones are taken as they are.
        self._skip = self.source == "bundled"
        self._opened = _file_id(self.path) if self.path else None
        if not self.path:
            return
        try:
            self._reader = maxminddb.open_database(self.path)
            self._meta = self._reader.metadata()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
            self._reader = None
            if self.source == "bundled":
                self.error = (
                    f"the bundled GeoIP country database {self.path} cannot be used, "
                    f"running without geo ({e}); `make install` fetches it, or set "
                    "[geoip] database to a file"
                )
            else:
                self.error = (
                    f"GeoIP database {self.path!r} cannot be used, running without geo: {e}"
                )
            if not quiet:
                log.error("%s", self.error)

    @property
    def enabled(self) -> bool:
        return self._reader is not None

    @property
    def cities(self) -> bool:
        """Whether the database holds regions and cities (a City database)."""
        kind = str(getattr(self._meta, "database_type", "")).lower()
        return self.enabled and any(word in kind for word in _CITY_TYPES)

    def changed_on_disk(self) -> bool:
        """Whether the file was replaced since it was opened (a reload reopens it)."""
        return bool(self.path) and _file_id(self.path) != self._opened

    def lookup(self, ip: str) -> GeoInfo:
        if self._reader is None or not ip:
            return NO_GEO
        try:
            rec = self._reader.get(ip)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return NO_GEO
        if not isinstance(rec, dict) or (self._skip and not_locatable(ip)):
            return NO_GEO
        subs = rec.get("subdivisions")
        region = _name(subs[0]) if isinstance(subs, list) and subs else ""
        return GeoInfo(country=_country(rec), region=region, city=_name(rec.get("city")))

    def describe(self) -> dict[str, Any]:
        """What status and the dashboard say about the database in use."""
        meta = self._meta
        epoch = getattr(meta, "build_epoch", None) if self.enabled else None
        info: dict[str, Any] = {
            "database": self.source,  # "bundled", "configured" or "off"
            "path": self.path or None,
            "loaded": self.enabled,
            "type": str(meta.database_type) if self.enabled and meta is not None else None,
            "cities": self.cities,
            "build_epoch": epoch if isinstance(epoch, int) else None,
            "package": None,
            "license": None,
            "error": self.error,
        }
        if self.source == "bundled":
            try:
                m = bundled_manifest()
                info["package"] = f"{m['package']} {m['version']}"
                info["license"] = f"{m['license']}, {m['attribution']}"
            except (OSError, KeyError, tomllib.TOMLDecodeError):
                pass  # an install without the manifest: the rest still holds
        return info

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
