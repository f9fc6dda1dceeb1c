"""Unique-visitor marks: how a row counts each visitor once (pure).

A row's visitors are the distinct visitor ids with an event in its bucket.
Rather than keeping ids, each (site, granularity, bucket) keeps a set of
marks, one integer per (row, visitor) already counted; a visitor is counted
when its mark is not yet in the set.

Invariants:

* `mark` is the one definition of a mark. The live aggregation and the
  recount from SQLite's per-event rows (after a restart, or when a bucket's
  set was dropped) both use it, so a recounted set equals the live one and
  nobody is counted twice (tests/storage/test_statsdb.py checks it).
* Marks are hashes of str-containing tuples, so they are only comparable
  within one process (PYTHONHASHSEED): sets are rebuilt, never stored.
* Visitor ids change with the daily salt, so a multi-day range's visitors
  are the sum of its days' visitors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from analyticsd.core.buckets import DAY, HOUR
from analyticsd.core.dimensions import Pair


def mark(gran: int, bucket: int, dim: int, value: str, visitor: str) -> int:
    """The member of a bucket's unique-visitor set for one row and visitor."""
    return hash((gran, bucket, dim, value, visitor))


def visitor_marks(
    hour: int, day: int, visitor: str, pairs: Iterable[Pair]
) -> Iterator[tuple[int, int, int, int, str]]:
    """(mark, granularity, bucket, dim, value) for every row an event touches."""
    for dim, value in pairs:
        yield mark(HOUR, hour, dim, value, visitor), HOUR, hour, dim, value
        yield mark(DAY, day, dim, value, visitor), DAY, day, dim, value


def visitor_int(visitor: str) -> int:
    """A 64-bit hex visitor id as a signed SQLite integer."""
    try:
        n = int(visitor, 16)
    except ValueError:
        return 0
    return n - (1 << 64) if n >= 1 << 63 else n


def visitor_hex(n: int) -> str:
    return f"{n & 0xFFFFFFFFFFFFFFFF:016x}"
