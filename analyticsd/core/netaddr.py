"""Which IP a request comes from.

`X-Forwarded-For` is trusted only when the TCP peer is one of the configured
proxies; otherwise anyone could pick the IP (and so the visitor id) we hash.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from analyticsd.core.errors import ForwardedForError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@lru_cache(maxsize=8192)
def _trusted(ip: str, networks: tuple[Network, ...]) -> bool:
    # Cached: the same few peers (the proxy, loopback) ask on every request,
    # and ipaddress parsing costs more than the rest of the request routing.
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def client_ip(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's IP. Raises ForwardedForError for a malformed header from a trusted proxy.

    Walks X-Forwarded-For right to left and stops at the first hop that is not
    one of our proxies: entries left of it were written by the client and
    cannot be believed.
    """
    if forwarded_for is None or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    if len(hops) > 64 or len(forwarded_for) > 2048:
        raise ForwardedForError("X-Forwarded-For has too many hops")
    for hop in reversed(hops):
        try:
            addr = str(ipaddress.ip_address(hop))
        except ValueError:
            raise ForwardedForError(
                f"X-Forwarded-For entry {hop[:64]!r} is not an IP address"
            ) from None
        if not _trusted(addr, trusted):
            return addr
    return str(ipaddress.ip_address(hops[0]))
