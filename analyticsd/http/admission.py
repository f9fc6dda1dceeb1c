"""Who holds the listener's connection slots, and whom to let go: pure code.

The listener (`http/server.py`) asks this table, on each accepted connection,
whether the peer may have one more connection, and which idle connections to
close so that slots stay free for new clients. It does no IO and knows no
clock: the order in which connections became idle is all it needs.

Rules and invariants:
* A peer address holds at most `max_per_client` connections at once; peers in
  the trusted proxy networks are exempt, as one proxy carries many clients
  (the global cap and idle eviction still bound them).
* An idle connection is one with no request in progress: accepted and not yet
  sending, or between requests. Idle connections are kept oldest-idle first;
  a connection that starts a request leaves the order, one that finishes its
  last request re-enters it at the end.
* Once more than `high_water` connections are open (90 % of
  `max_connections`), `victims` hands out the longest-idle connections until
  the count, less those already handed out, is back at `high_water`. A
  connection with a request in progress is never handed out: cutting it
  could cut an ingest write, and slow requests have their own deadlines.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from analyticsd.core.netaddr import parse_networks

H = TypeVar("H", bound=Hashable)

HIGH_WATER_FRACTION = 0.9


def high_water(max_connections: int) -> int:
    """Open connections above which idle ones are closed (at least 1)."""
    return max(1, int(max_connections * HIGH_WATER_FRACTION))


class ConnectionTable(Generic[H]):
    """Open connections by handle: counts per peer, idle ones oldest first."""

    def __init__(
        self, max_connections: int, max_per_client: int, trusted_proxies: Sequence[str] = ()
    ) -> None:
        self.high_water = high_water(max_connections)
        self.max_per_client = max_per_client
        self.open = 0
        self._networks = parse_networks(trusted_proxies)
        self._per_peer: dict[str, int] = {}
        self._peer_of: dict[H, str] = {}
        self._idle: OrderedDict[H, None] = OrderedDict()
        self._evicted: set[H] = set()

    def admit(self, handle: H, peer: str) -> bool:
        """Count a new connection in (idle); False: the peer is at its cap, refuse it."""
        held = self._per_peer.get(peer, 0)
        if held >= self.max_per_client and not self._exempt(peer):
            return False
        self._per_peer[peer] = held + 1
        self._peer_of[handle] = peer
        self._idle[handle] = None
        self.open += 1
        return True

    def release(self, handle: H) -> None:
        """The connection has closed."""
        peer = self._peer_of.pop(handle)
        held = self._per_peer[peer] - 1
        if held:
            self._per_peer[peer] = held
        else:
            del self._per_peer[peer]
        self._idle.pop(handle, None)
        self._evicted.discard(handle)
        self.open -= 1

    def busy(self, handle: H) -> None:
        """A request is in progress on the connection: it may not be evicted."""
        self._idle.pop(handle, None)

    def idle(self, handle: H) -> None:
        """No request is in progress: the connection joins the end of the idle order."""
        if handle in self._peer_of and handle not in self._evicted:
            self._idle[handle] = None
            self._idle.move_to_end(handle)

    def victims(self) -> list[H]:
        """Idle connections to close now, longest-idle first."""
        excess = self.open - len(self._evicted) - self.high_water
        out: list[H] = []
        while excess > 0 and self._idle:
            handle, _ = self._idle.popitem(last=False)
            self._evicted.add(handle)
            out.append(handle)
            excess -= 1
        return out

    def held_by(self, peer: str) -> int:
        return self._per_peer.get(peer, 0)

    def _exempt(self, peer: str) -> bool:
        try:
            addr = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(addr in net for net in self._networks)
