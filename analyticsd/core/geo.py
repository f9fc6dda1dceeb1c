"""What we keep of a client's location: country, region, city (never the IP)."""

from __future__ import annotations

from typing import Protocol

import msgspec


class GeoInfo(msgspec.Struct, frozen=True, array_like=True):
    country: str  # ISO 3166-1 alpha-2, "" when unknown
    region: str  # first subdivision, English name
    city: str  # English name


NO_GEO = GeoInfo("", "", "")


class GeoSource(Protocol):
    """Where the receiver looks up an address (storage.geoip in the daemon)."""

    def lookup(self, ip: str) -> GeoInfo: ...
