"""Who may read what: API tokens with their site scopes, and a bound on
sign-in attempts (pure).

* A grant is a token and the sites it may read (None: every site, what a
  token without `sites` has always meant).
* Tokens are compared in constant time with every known one, so neither the
  answer's timing nor its order tells how much of a guess was right.
* A token may not read a site outside its scope: the API answers as for an
  unknown site (404), so a scoped token does not learn which other sites exist.
* Failed sign-ins are limited per client address (a token bucket: a burst,
  then one attempt per refill interval), so guessing tokens through the
  sign-in form costs minutes per handful of guesses, not milliseconds. The
  table of addresses is bounded: past it, the least recently seen address
  is forgotten (a flood of addresses can only give those their fresh burst).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Grant(NamedTuple):
    token: str
    sites: frozenset[str] | None  # None: every site
    # A shared link's or public site's: good for a session cookie only.
    shared: bool = False

    def may_read(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites


def token_hash(token: str) -> str:
    """What stands for a token where it must be named (the session epochs):
    never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def match(given: str, grants: Iterable[Grant]) -> Grant | None:
    """The grant of `given`, compared in constant time with each token."""
    found = None
    for g in grants:
        if hmac.compare_digest(given.encode(), g.token.encode()) and not g.shared:
            found = g
    return found


# Failed sign-ins per client address: a burst of BURST, then one more each
# REFILL_S (so ~6 a minute once the burst is spent).
BURST = 10
REFILL_S = 10.0
MAX_ADDRESSES = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class SignInLimiter:
    """Failed sign-in attempts per client address (monotonic seconds injected)."""

    burst: int = BURST
    refill_s: float = REFILL_S
    max_addresses: int = MAX_ADDRESSES
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _bucket(self, address: str, now: float) -> _Bucket:
        b = self._buckets.get(address)
        if b is None:
            b = self._buckets[address] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) / self.refill_s)
            b.at = now
            self._buckets.move_to_end(address)
        return b

    def retry_after(self, address: str, now: float) -> int:
        """0 when `address` may try now, else the whole seconds to wait."""
        b = self._bucket(address, now)
        if b.tokens >= 1:
            return 0
        return max(1, int((1 - b.tokens) * self.refill_s + 0.999))

    def failed(self, address: str, now: float) -> None:
        b = self._bucket(address, now)
        b.tokens = max(0.0, b.tokens - 1)

    def __len__(self) -> int:
        return len(self._buckets)


class Epochs(Protocol):
    """Each token's session epoch, by token hash (storage/access_files.py)."""

    def epoch(self, token_hash: str) -> int: ...

    def bump(self, token_hash: str) -> None: ...


@dataclass
class MemoryEpochs:
    """Epochs kept in memory only (tests; a daemon keeps them on disk)."""

    epochs: dict[str, int] = field(default_factory=dict)

    def epoch(self, token_hash: str) -> int:
        return self.epochs.get(token_hash, 0)

    def bump(self, token_hash: str) -> None:
        self.epochs[token_hash] = self.epoch(token_hash) + 1
