"""A compact exact set of 64-bit integers (pure).

What the memory budget keeps of what it moved to disk: which visitors of a
bucket have marks there, which visits were evicted while they may still
grow. A Python set costs ~60 bytes an entry (the int object and its slot);
here an entry costs 8 bytes in a sorted `array('Q')`, plus a small set of
recent additions that is merged in once it grows (so an addition is O(1)
amortised and a lookup is one set probe and one binary search).

Membership is exact: a lookup that says yes makes the caller read the disk,
one that says no is never wrong.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left

MASK = (1 << 64) - 1
MERGE_AT = 4096  # recent additions kept in a set before they are merged in


class IdSet:
    __slots__ = ("_recent", "_sorted")

    def __init__(self) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, n: int) -> bool:
        n &= MASK
        if n in self._recent:
            return True
        s = self._sorted
        i = bisect_left(s, n)
        return i < len(s) and s[i] == n

    def add(self, n: int) -> None:
        n &= MASK
        if n in self:
            return
        self._recent.add(n)
        if len(self._recent) >= MERGE_AT:
            self._merge()

    def update(self, ns: set[int]) -> None:
        for n in ns:
            self.add(n)

    def _merge(self) -> None:
        # A streaming merge: no list of every entry is ever built.
        self._sorted = array("Q", heapq.merge(self._sorted, sorted(self._recent)))
        self._recent = set()

    def nbytes(self) -> int:
        """Resident bytes, near enough for the memory budget."""
        return self._sorted.itemsize * len(self._sorted) + 64 * len(self._recent)
