"""Recounting one stored day from its per-event rows (pure): `analyticsd recompute`.

Why recount with the live aggregation rather than with SQL of its own: the
rows a day gets then come from the very code that counted them live
(core.aggregate), so a recomputed day cannot drift from a live one; only
the goals are taken from the configuration in force (core.enrich).

What goes in: every per-event row of the visits that touch the day (those
with an event on it, and those that started on it, all their events), in
time order, each with its stored visitor id (the day's alias after
midnight) and its visit's stored dimensions. What comes out: the rows of
the day's DAY and HOUR buckets only (a visit begun the day before keeps its
visit counts there; its events on this day count here, as live), each
event's goals as they are now, and each visit's conversions.

A stored visit that the recount would split in two (live, its events came
so late and out of order that they made visits of their own) is refused,
with the day, rather than counted under one id twice.

What the per-event rows cannot give is left alone by the caller: bot rows
(bots make no per-event row) and engagement rows (engagement events make
none either; goals do not change them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from analyticsd.core.aggregate import Aggregation
from analyticsd.core.batch import FlushBatch
from analyticsd.core.buckets import DAY, HOUR, buckets, day_label
from analyticsd.core.enrich import SiteRules
from analyticsd.core.errors import RecomputeRefused
from analyticsd.core.geo import NO_GEO
from analyticsd.core.ingest import IncomingEvent, PropValue
from analyticsd.core.marks import visitor_hex
from analyticsd.core.source import Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import UNKNOWN_CLIENT

_NO_SOURCE = Source("", "", "")
_props = msgspec.json.Decoder(dict[str, PropValue])


class StoredEvent(msgspec.Struct, frozen=True, array_like=True):
    """A per-event row as recount reads it (`rowid` to write its goals back)."""

    rowid: int
    ts: int
    session: int
    visitor: int
    name: str
    path: str
    props: str | None
    revenue_micros: int | None
    currency: str | None
    user_id: str | None
    event_id: str


class StoredVisit(msgspec.Struct, frozen=True):
    sid: int
    visitor: int
    dims: tuple[str, ...]


@dataclass
class Recount:
    batch: FlushBatch  # the day's DAY and HOUR rows
    goals: list[tuple[str | None, int]] = field(default_factory=list)  # (goals json, rowid)
    conversions: list[tuple[int, int]] = field(default_factory=list)  # (conversions, visit id)
    events: int = 0  # per-event rows of the day


def _record(
    e: StoredEvent, visit: StoredVisit, site: str, rules: SiteRules | None
) -> EnrichedRecord:
    amount = None
    if e.revenue_micros is not None:
        amount = str(Decimal(e.revenue_micros) / 1_000_000)
    ev = IncomingEvent(
        site_id=site, event_type=e.name, path=e.path, hostname="", timestamp_ms=e.ts,
        event_id=e.event_id, referrer="", props=_props.decode(e.props) if e.props else {},
        revenue_amount=amount, revenue_currency=e.currency if amount is not None else None,
        session_id=None, user_id=e.user_id, screen_width=None, utm={},
    )  # fmt: skip
    goals = rules.goals_of(ev) if rules is not None else ()
    own = visitor_hex(e.visitor)
    # After midnight an event carries the visit's alias: the visit's own id
    # is then its "previous" id, which is how live counting found the visit.
    prev = visitor_hex(visit.visitor) if e.visitor != visit.visitor else ""
    return EnrichedRecord(
        e.event_id, e.ts, own, prev, UNKNOWN_CLIENT, NO_GEO, "", _NO_SOURCE, goals, ev
    )


def recount_day(
    site: str,
    day: int,
    tz_name: str,
    events: list[StoredEvent],
    visits: dict[int, StoredVisit],
    rules: SiteRules | None,
    with_hours: bool,
) -> Recount:
    """The day's rows counted afresh from `events` (time order), whose
    visits are all in `visits`."""
    visit_of: dict[str, StoredVisit] = {}
    opened: set[int] = set()

    def dims_of(rec: EnrichedRecord) -> tuple[str, ...]:
        # Called once per visit the recount opens. A stored visit opened
        # twice would be two visits under one id (their counts would
        # collide): refuse the day rather than count it wrong.
        visit = visit_of[rec.event_id]
        if visit.sid in opened:
            raise RecomputeRefused(
                f"visit {visit.sid} on {day_label(day)} does not regroup as stored "
                "(its events came late, out of order); the day is left as counted live"
            )
        opened.add(visit.sid)
        return visit.dims

    agg = Aggregation(tz_of={site: tz_name})
    agg.dims_of = dims_of
    out = Recount(FlushBatch())
    for e in events:
        visit = visits[e.session]
        rec = _record(e, visit, site, rules)
        visit_of[e.event_id] = visit
        for s, gran, bucket in agg.marks_needed((rec,)):
            agg.load_marks(s, gran, bucket, set(), set())
        # The stored visit id as the sequence: the visit it opens gets it again.
        agg.add(e.session, rec)
    batch = agg.take()
    for e, row in zip(events, batch.events, strict=True):
        if buckets(e.ts, tz_name)[1] == day:
            out.goals.append((row.goals, e.rowid))
            out.events += 1
    for key, rows in batch.buckets.items():
        _, gran, bucket = key
        if (gran == DAY and bucket == day) or (with_hours and gran == HOUR and bucket // 24 == day):
            out.batch.buckets[key] = rows
    for rkey, value in batch.revenue.items():
        gran, bucket = rkey[1], rkey[2]
        if (gran == DAY and bucket == day) or (with_hours and gran == HOUR and bucket // 24 == day):
            out.batch.revenue[rkey] = value
    out.conversions = [(s.conversions, s.sid) for s, c in batch.sessions if c.day == day]
    return out


def day_refusal(day: int, today: int, retention_days: int) -> str | None:
    """Why a day cannot be recomputed (None: it can). A day is recomputable
    while all of it is younger than the per-event retention; the prune
    horizon moves by the hour, so the oldest day of the window is left out."""
    if day > today:
        return f"{day_label(day)} is in the future"
    if day <= today - retention_days:
        return (
            f"{day_label(day)} is older than raw_event_retention_days ({retention_days}): "
            "its per-event rows are pruned, so it cannot be rebuilt"
        )
    return None
