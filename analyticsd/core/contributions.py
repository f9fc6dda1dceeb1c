"""Visit contributions: what one visit adds to the rows, and settling it (pure).

Visit-level counts (visits, bounces, duration, engaged, and for visit
dimensions also the visit's pageviews, events and conversions) go to the
hour and day where the visit started, under the SITE row, each of the
visit's dimension pairs, and its entry and exit page (which count visits,
not visitors: a visitor's exit page changes as the visit goes on).

Invariant: the rows stay additive. A visit that grows after it was settled
is settled again as a difference (new minus what was settled), or, when it
moved rows (a new exit page, an earlier start), by taking the old
contribution out whole and adding the new one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from analyticsd.core.batch import (
    V_BOUNCES,
    V_CONVERSIONS,
    V_DURATION,
    V_ENGAGED,
    V_EVENTS,
    V_PAGEVIEWS,
    V_VISITORS,
    V_VISITS,
    BucketKey,
    Rows,
    add_into,
)
from analyticsd.core.buckets import DAY, HOUR, buckets
from analyticsd.core.dimensions import (
    ENTRY_PAGE,
    EXIT_PAGE,
    SITE_PAIR,
    SplitPairs,
    pair,
    split_pairs,
)
from analyticsd.core.sessions import Session

Buckets = defaultdict[BucketKey, Rows]  # FlushBatch.buckets


class Contribution(NamedTuple):
    """What one session adds to the rows: where, and how much."""

    hour: int
    day: int
    pairs: tuple[tuple[int, str], ...]  # visit dims incl. entry/exit
    vector: tuple[int, ...]  # for visit dimension rows
    site_vector: tuple[int, ...]  # for the SITE row (no event-level counts)
    # The first `n_constant` pairs are visitor-constant dimensions; when the
    # visit opened with the visitor's first event of its hour / day, their
    # unique visitor is counted here (visitors = (hour, day) 0 or 1).
    n_constant: int = 0
    visitors: tuple[int, int] = (0, 0)


def contribution(s: Session, tz_name: str, pairs: SplitPairs | None = None) -> Contribution:
    hour, day = buckets(s.start_ms, tz_name)
    return contribution_at(s, hour, day, pairs)


def contribution_at(
    s: Session, hour: int, day: int, pairs: SplitPairs | None = None
) -> Contribution:
    """The contribution of `s` started in `hour` and `day`; `pairs` are
    split_pairs(s.dims), passed in when the caller holds them already."""
    constant, per_visit = split_pairs(s.dims) if pairs is None else pairs
    all_pairs = (*constant, *per_visit)
    if s.entry:
        all_pairs += (pair(ENTRY_PAGE, s.entry), pair(EXIT_PAGE, s.exit))
    bounce, engaged, duration = int(s.bounce), int(s.engaged), s.duration_ms
    return Contribution(
        hour,
        day,
        all_pairs,
        (0, 1, s.pageviews, s.events, bounce, duration, engaged, s.conversions),
        (0, 1, 0, 0, bounce, duration, engaged, 0),
        len(constant),
        (s.first_visits & 1, (s.first_visits >> 1) & 1),
    )


def settle_visit(rows: Buckets, site: str, old: Contribution | None, new: Contribution) -> None:
    """Bring a site's rows from holding `old` (None: nothing yet) to holding `new`."""
    if old is None:
        apply(rows, site, new, +1)
    elif (old.hour, old.day, old.pairs) == (new.hour, new.day, new.pairs):
        _apply_difference(rows, site, old, new)
    else:  # the visit moved rows (new exit page): move it whole
        apply(rows, site, old, -1)
        apply(rows, site, new, +1)


def apply(buckets_: Buckets, site: str, c: Contribution, sign: int) -> None:
    """Add (sign +1) or take out (-1) a whole contribution."""
    _, visits, pvs, evs, bounces, dur, engaged, convs = (sign * x for x in c.vector)
    n_constant = c.n_constant
    for gran, bucket in ((HOUR, c.hour), (DAY, c.day)):
        rows = buckets_[(site, gran, bucket)]
        new_visitor = sign * c.visitors[gran]
        row = rows[SITE_PAIR]
        row[V_VISITS] += visits
        row[V_BOUNCES] += bounces
        row[V_DURATION] += dur
        row[V_ENGAGED] += engaged
        for i, p in enumerate(c.pairs):
            row = rows[p]
            if i < n_constant:
                row[V_VISITORS] += new_visitor
            row[V_VISITS] += visits
            row[V_PAGEVIEWS] += pvs
            row[V_EVENTS] += evs
            row[V_BOUNCES] += bounces
            row[V_DURATION] += dur
            row[V_ENGAGED] += engaged
            row[V_CONVERSIONS] += convs


def _apply_difference(buckets_: Buckets, site: str, old: Contribution, new: Contribution) -> None:
    vdiff = [a - b for a, b in zip(new.vector, old.vector, strict=True)]
    sdiff = [a - b for a, b in zip(new.site_vector, old.site_vector, strict=True)]
    if not any(vdiff) and not any(sdiff):
        return
    for gran, bucket in ((HOUR, new.hour), (DAY, new.day)):
        rows = buckets_[(site, gran, bucket)]
        add_into(rows[SITE_PAIR], sdiff)
        for p in new.pairs:
            add_into(rows[p], vdiff)
