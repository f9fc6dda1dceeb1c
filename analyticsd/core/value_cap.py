"""A cap on distinct values per dimension, site and day, with an `(other)` row (pure).

Without it every distinct path, prop value, referrer or UTM tag makes rows
for each hour, day, week and month it occurs in: 100k distinct paths made
960k rollup rows in a day. A site (or someone posting to its beacon) can make
values without bound, so each (site, local day, dimension group) admits at
most `limit` distinct values into its rollup rows; the rows of any further
value are added to the group's `(other)` row instead.

* A dimension group is the dimension, and for two-part values (a prop's
  name, a browser's name, a country of a region) the first part: each prop
  name has its own cap, its rows fold into "name\\x1f(other)".
* Admission is first come, first served in flush order, and final for the
  day: a value admitted keeps its rows, one refused never gets any, so the
  rows stay additive (a visit's exit page moving out of a folded value takes
  its visit out of `(other)`, where it was added).
* What is admitted is what has a DAY row in the store: after a restart the
  set is read back from there (`DayValues.load`), and a flush that fails
  admits nothing (`admit` only after the commit). Hour rows follow their
  day's admission.
* Folding is exact for every additive count (visits, pageviews, events,
  bounces, duration, conversions). `(other)`'s visitors are the sum of its
  values' visitors: someone on two folded pages counts twice there (their
  marks are per value). Per-event rows keep every value, so filtered
  questions answered from them see each one.

Goals, channels, devices and screen sizes come from short fixed lists and
are never capped; nor are the site totals.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from analyticsd.core.batch import BucketKey, Rows, add_into, new_buckets, new_rows
from analyticsd.core.buckets import DAY, HOUR
from analyticsd.core.dimensions import BOTS, GOAL, SEP, SITE, pair
from analyticsd.core.idset import IdSet

OTHER = "(other)"
# Codes whose values come from a short fixed list (see core.dimensions).
UNCAPPED = frozenset({SITE, BOTS, GOAL, 4, 15, 19})  # + channel, device, screen
# (site, day) admitted sets kept between flushes; older ones are read back
# from the store when a late event needs them.
KEEP_DAYS = 256

Group = tuple[int, str]
DayKey = tuple[str, int]


def group_of(dim: int, value: str) -> Group:
    head, sep, _ = value.partition(SEP)
    return (dim, head) if sep else (dim, "")


def other_of(dim: int, value: str) -> tuple[int, str]:
    head, sep, _ = value.partition(SEP)
    return pair(dim, f"{head}{SEP}{OTHER}" if sep else OTHER)


def _member(dim: int, value: str) -> int:
    return hash((dim, value))


@dataclass
class DayValues:
    """The values admitted for one site and day: how many per group, and
    which (as 64-bit hashes: a collision only gives a value its own rows)."""

    counts: dict[Group, int] = field(default_factory=dict)
    members: IdSet = field(default_factory=IdSet)

    def load(self, pairs: Iterable[tuple[int, str]]) -> None:
        for dim, value in pairs:
            if dim not in UNCAPPED and value:
                self._add(dim, value)

    def _add(self, dim: int, value: str) -> None:
        g = group_of(dim, value)
        self.counts[g] = self.counts.get(g, 0) + 1
        self.members.add(_member(dim, value))

    def has(self, dim: int, value: str) -> bool:
        return _member(dim, value) in self.members


@dataclass
class Folded:
    """A batch's rows after the cap: what to write, and what it admits."""

    buckets: defaultdict[BucketKey, Rows]
    admitted: dict[DayKey, list[tuple[int, str]]]
    folded_values: int  # distinct (day, dim, value) whose rows went to (other)


@dataclass
class ValueCap:
    """Admitted values per (site, day); see the module docstring."""

    limit: int  # 0: no cap
    days: OrderedDict[DayKey, DayValues] = field(default_factory=OrderedDict)

    def missing(self, keys: Iterable[BucketKey]) -> list[DayKey]:
        """The (site, day)s of these buckets whose admitted values must be
        loaded (`load`) before `fold`."""
        if not self.limit:
            return []
        out: dict[DayKey, None] = {}
        for site, gran, bucket in keys:
            day = _day_of(gran, bucket)
            if day is not None and (site, day) not in self.days:
                out[(site, day)] = None
        return list(out)

    def load(self, site: str, day: int, pairs: Iterable[tuple[int, str]]) -> None:
        values = DayValues()
        values.load(pairs)
        self.days[(site, day)] = values
        self.days.move_to_end((site, day))
        while len(self.days) > KEEP_DAYS:
            self.days.popitem(last=False)

    def fold(self, buckets: defaultdict[BucketKey, Rows]) -> Folded:
        """The rows to write: values past the cap moved to `(other)`.

        Leaves `buckets` as it is (a failed flush puts it back whole) and
        admits nothing yet: the caller calls `admit` once the rows are
        durable. Every day of `buckets` must be loaded."""
        if not self.limit:
            return Folded(buckets, {}, 0)
        admitted: dict[DayKey, list[tuple[int, str]]] = {}
        pending: dict[DayKey, set[tuple[int, str]]] = {}
        counts: dict[tuple[DayKey, Group], int] = {}
        folded: set[tuple[DayKey, int, str]] = set()
        out = new_buckets()
        # Days first: they decide admission; their hours follow.
        order = sorted(buckets, key=lambda k: k[1] != DAY)
        for key in order:
            site, gran, bucket = key
            day = _day_of(gran, bucket)
            if day is None:  # week and month rows are derived later
                out[key] = buckets[key]
                continue
            dkey = (site, day)
            values = self.days[dkey]
            new = pending.setdefault(dkey, set())
            rows = buckets[key]
            moves: list[tuple[int, str]] = []
            for p, vector in rows.items():
                dim, value = p
                if dim in UNCAPPED or not value or p in new or values.has(dim, value):
                    continue
                g = (dkey, group_of(dim, value))
                n = counts.get(g, values.counts.get(g[1], 0))
                if gran == DAY and n < self.limit and any(vector):
                    counts[g] = n + 1
                    new.add(p)
                    admitted.setdefault(dkey, []).append(p)
                else:
                    moves.append(p)
                    folded.add((dkey, dim, value))
            out[key] = _moved(rows, moves) if moves else rows
        return Folded(out, admitted, len(folded))

    def fold_engagement(
        self, rows: dict[tuple[str, int, int, int, str], list[int]], folded: Folded
    ) -> dict[tuple[str, int, int, int, str], list[int]]:
        """Engagement rows (core.batch) under the same cap: a page that is
        not admitted for its day (nor by `folded`, the batch's own fold) adds
        to `(other)`, so engaged pages cannot make rows the page rows could
        not. Every day of `rows` must be loaded."""
        if not self.limit:
            return rows
        out: dict[tuple[str, int, int, int, str], list[int]] = {}
        admitted = {dkey: set(pairs) for dkey, pairs in folded.admitted.items()}
        for key, vector in rows.items():
            site, gran, bucket, dim, value = key
            day = _day_of(gran, bucket)
            if day is not None and dim not in UNCAPPED and value:
                new = admitted.get((site, day), set())
                if not self.days[(site, day)].has(dim, value) and (dim, value) not in new:
                    key = (site, gran, bucket, *other_of(dim, value))
            acc = out.setdefault(key, [0] * len(vector))
            add_into(acc, vector)
        return out

    def admit(self, folded: Folded) -> None:
        """The folded rows are durable: their new values are admitted."""
        for dkey, pairs in folded.admitted.items():
            values = self.days.get(dkey)
            if values is not None:
                for dim, value in pairs:
                    values._add(dim, value)


def _moved(rows: Rows, moves: list[tuple[int, str]]) -> Rows:
    """A copy of `rows` with the rows of `moves` added to their `(other)`."""
    out = new_rows()
    for p, vector in rows.items():
        out[p] = list(vector)
    for p in moves:
        add_into(out[other_of(*p)], out.pop(p))
    return out


def _day_of(gran: int, bucket: int) -> int | None:
    if gran == DAY:
        return bucket
    if gran == HOUR:
        return bucket // 24
    return None
