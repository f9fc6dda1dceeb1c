"""What we keep of a client's location: country, region, city (never the IP)."""

from __future__ import annotations

import bisect
import ipaddress
import socket
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


# Address space that is nobody's location: private, shared, loopback,
# link-local, documentation, benchmarking, multicast and reserved blocks (the
# IANA special-purpose registries, RFC 6890 and later). A whois-derived
# database can still "locate" some of them (the bundled one puts 192.168.0.0/16,
# 172.16.0.0/12 and the documentation blocks in the country of the registry
# that lists them), so lookups in it skip these.
NOT_LOCATABLE = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
    "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
    "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8",
)  # fmt: skip


def _ranges(version: int) -> tuple[list[int], list[int]]:
    nets = sorted(n for n in map(ipaddress.ip_network, NOT_LOCATABLE) if n.version == version)
    starts: list[int] = []
    ends: list[int] = []
    for n in nets:
        lo, hi = int(n.network_address), int(n.broadcast_address)
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


_V4, _V6 = _ranges(4), _ranges(6)
# First octets (as written) any IPv4 block above starts with: an address with
# another one is answered without parsing it (most addresses, most of the cost).
_V4_FIRST = frozenset(
    str(octet) for lo, hi in zip(*_V4, strict=True) for octet in range(lo >> 24, (hi >> 24) + 1)
)


def _within(ranges: tuple[list[int], list[int]], n: int) -> bool:
    i = bisect.bisect_right(ranges[0], n) - 1
    return i >= 0 and n <= ranges[1][i]


def not_locatable(ip: str) -> bool:
    """Whether `ip` is in a block that has no location. An IPv4-mapped or
    IPv4-compatible IPv6 address (::ffff:a.b.c.d, ::a.b.c.d, which a .mmdb
    answers from its IPv4 data) counts as its IPv4 address, so :: and ::1 are
    0.0.0.0/8. Under a microsecond, where ipaddress's is_global takes several;
    False for what is not an address."""
    if ":" not in ip and ip.partition(".")[0] not in _V4_FIRST:
        return False
    try:
        if ":" in ip:
            n = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip))
            if n >> 32 in (0, 0xFFFF):
                return _within(_V4, n & 0xFFFFFFFF)
            return _within(_V6, n)
        return _within(_V4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip)))
    except OSError:
        return False
