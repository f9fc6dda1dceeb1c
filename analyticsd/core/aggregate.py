"""The aggregation: enriched events → visits → additive row deltas per flush (pure).

Each event is counted at once into the rows of the next flush batch
(core.batch): under its site, granularity (HOUR and DAY; WEEK and MONTH rows
are derived at the flush) and bucket (core.buckets), and under each
dimension pair it has (core.dimensions).

* Event-level counts (pageviews, events, conversions of SITE, page, goal and
  property rows) go to the bucket of the event's own time.
* Visit-level counts go to the bucket where the visit started; visits are
  settled into the rows in slices before a flush (core.contributions).
* Visitors are unique per row: the bucket's set of marks (core.marks) says
  who was counted already. The sets of the buckets events fall in must be
  loaded (`marks_needed`, `load_marks`) before `add`.
* Bot events are counted only in BOTS rows (pageviews, events).
* Revenue is summed per currency in its own rows (SITE and goal).
* Engagement events (Plausible's `engagement`: a page's scroll depth and
  engaged time) are no events: they count nothing in the visit rows and make
  no per-event row. They add to the engagement rows (core.batch) of an open
  visit; one without an open visit is dropped, as Plausible drops it.

Why the rows stay compact: rows exist only for values that occurred, their
integers are small (SQLite stores 0 and 1 in no payload bytes), the table is
WITHOUT ROWID with the key as its primary key, dimension names are integer
codes, and empty values (no UTM, no region) make no row at all. Hourly rows
dominate: one row per hour per value seen in that hour.

The flush protocol: `take` hands over a batch; the caller then reports it
`committed` (durable: clean visits and idle state may go) or `failed` (its
counts are put back for the next attempt, so nothing is lost or doubled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from analyticsd.core.batch import (
    V_CONVERSIONS,
    V_EVENTS,
    V_PAGEVIEWS,
    V_VISITORS,
    EventRow,
    FlushBatch,
    Rows,
    json_text,
    micros,
)
from analyticsd.core.buckets import (
    DAY,
    HOUR,
    MONTH,
    WEEK,
    buckets,
    day_label,
    day_number,
    month_first_day,
    month_of,
    week_first_day,
    week_of,
)
from analyticsd.core.contributions import Contribution, contribution, contribution_at, settle_visit
from analyticsd.core.dimensions import (
    BOTS,
    BOTS_PAIR,
    DIMENSIONS,
    ENTRY_PAGE,
    EXIT_PAGE,
    GOAL,
    PAGE,
    PROP,
    SEP,
    SESSION_DIMS,
    SITE,
    VISITOR_CONSTANT_DIMS,
    SplitPairs,
    event_pairs,
    prop_text,
    session_dims,
    split_pairs,
)
from analyticsd.core.engagement import count_engagement
from analyticsd.core.idset import IdSet
from analyticsd.core.ingest import ENGAGEMENT, PAGEVIEW
from analyticsd.core.marks import mark, visitor_hex, visitor_int, visitor_marks
from analyticsd.core.sessions import SESSION_GAP_MS, Session, SessionBook
from analyticsd.core.spool_record import EnrichedRecord

# Re-exported: the names the rest of the package imports from here. New code
# may import them from their own modules.
__all__ = [
    "BOTS",
    "DAY",
    "DIMENSIONS",
    "ENTRY_PAGE",
    "EXIT_PAGE",
    "GOAL",
    "HOUR",
    "MONTH",
    "PAGE",
    "PROP",
    "SEP",
    "SESSION_DIMS",
    "SITE",
    "SKEW_MS",
    "VISITOR_CONSTANT_DIMS",
    "WEEK",
    "Aggregation",
    "Contribution",
    "FlushBatch",
    "buckets",
    "contribution_at",
    "day_label",
    "day_number",
    "event_pairs",
    "month_first_day",
    "month_of",
    "prop_text",
    "split_pairs",
    "visitor_hex",
    "visitor_int",
    "visitor_marks",
    "week_first_day",
    "week_of",
]

# Events older than this behind the newest one seen may still extend an open
# visit (clients' clocks and queues lag); sessions are kept that long.
SKEW_MS = 15 * 60 * 1000
# Unique-visitor sets of buckets nobody touched for this long (arrival time)
# are dropped; they are recounted from the per-event rows if a late event comes.
IDLE_MARKS_MS = 3600_000
# Resident bytes, measured with tracemalloc over 20,000 visits of 3 page
# views: a mark or a visitor id in a set (the int and its slot), and an open
# visit with what the aggregation keeps for it (the Session, its dims, its
# VisitCache and Contribution, the dict entries that find them).
MARK_BYTES = 64
VISIT_BYTES = 1300

BucketKey = tuple[str, int, int]


@dataclass(slots=True)
class VisitCache:
    """What the aggregation keeps per open visit to make its later events cheap.

    All of it can be derived again from the visit and the mark sets, so
    losing an entry costs time, never a count: marks already made are found
    in the bucket's set and not counted twice."""

    pairs: SplitPairs  # split_pairs(visit.dims): its dims never change
    visitor_number: int  # visitor_int of the visit's own visitor id
    # The hour and the day whose marks of the per-visit pairs were last made
    # for this visit: later events in the same bucket skip that work. (Plain
    # ints, not a set: tens of thousands of visits are open at once.)
    marked_hour: int = -1
    marked_day: int = -1
    # The deepest scroll (%) counted so far per page of the visit (-1: the
    # page was engaged with, without a depth yet): a later engagement event
    # adds only what it scrolled further, and its visit-page is counted once.
    # Lost with the cache (a restart), so a page's depth and visit may then
    # be counted twice.
    scrolled: dict[str, int] | None = None


@dataclass
class Aggregation:
    """In-memory state between flushes; see the module docstring."""

    tz_of: dict[str, str] | None = None
    book: SessionBook = field(
        default_factory=lambda: SessionBook(window_ms=SESSION_GAP_MS + SKEW_MS)
    )
    last_seq: int = 0
    watermark_ms: int = 0
    # What the next flush writes, counted into as events come.
    pending: FlushBatch = field(default_factory=FlushBatch)
    # Per visit (by id), what it has added to the rows so far: settling a
    # changed visit adds the difference.
    flushed: dict[int, Contribution] = field(default_factory=dict)
    # Unique-visitor marks per (site, granularity, bucket), loaded from SQLite
    # before use; hours and days apart, so a finished hour's marks can go.
    # Under a memory budget a bucket's marks go to disk (the spill store) in
    # bulk: `seen` then holds only those made or read back since.
    seen: dict[BucketKey, set[int]] = field(default_factory=dict)
    touched: dict[BucketKey, int] = field(default_factory=dict)
    # Per bucket, the visitors (visitor_int) whose marks are in `seen`, and
    # those who have marks on disk: an event of a visitor with marks on disk
    # has them read back before it is counted (`cold_marks`, `load_cold`).
    visitors_in: dict[BucketKey, set[int]] = field(default_factory=dict)
    cold_visitors: dict[BucketKey, IdSet] = field(default_factory=dict)
    # Buckets dropped whose marks are on disk: the caller deletes them there.
    dropped_cold: list[BucketKey] = field(default_factory=list)
    # Visits changed since they were last settled into the rows.
    dirty: dict[int, Session] = field(default_factory=dict)
    # Per open visit, by its sid; forgotten with the visit.
    visits: dict[int, VisitCache] = field(default_factory=dict)
    # A new visit's dimensions from its landing event. A recount of stored
    # days (core.recount) gives the dimensions the visit was stored with.
    dims_of: Callable[[EnrichedRecord], tuple[str, ...]] = session_dims

    @property
    def n_events(self) -> int:
        """Events counted since the last flush."""
        return self.pending.n_events

    def tz(self, site: str) -> str:
        return (self.tz_of or {}).get(site, "UTC")

    # -- which days must be loaded first ----------------------------------

    def marks_needed(self, records: Iterable[EnrichedRecord]) -> set[tuple[str, int, int]]:
        """(site, granularity, bucket) whose marks must be loaded before `add`."""
        need: set[tuple[str, int, int]] = set()
        seen = self.seen
        for rec in records:
            site = rec.event.site_id
            hour, day = buckets(rec.event.timestamp_ms, self.tz(site))
            if (site, HOUR, hour) not in seen:
                need.add((site, HOUR, hour))
            if (site, DAY, day) not in seen:
                need.add((site, DAY, day))
        return need

    def load_marks(
        self, site: str, gran: int, bucket: int, marks: set[int], visitors: set[int] | None = None
    ) -> None:
        """A bucket's marks as recounted, with the visitors they are of."""
        self.seen[(site, gran, bucket)] = marks
        self.visitors_in[(site, gran, bucket)] = visitors if visitors is not None else set()

    # -- the memory budget ---------------------------------------------------

    def resident_bytes(self) -> int:
        """What the aggregation keeps resident, estimated for the budget."""
        marks = sum(map(len, self.seen.values())) + sum(map(len, self.visitors_in.values()))
        cold = sum(c.nbytes() for c in self.cold_visitors.values())
        return marks * MARK_BYTES + cold + len(self.book) * VISIT_BYTES + self.book.cold_bytes()

    def marks_bytes(self) -> int:
        marks = sum(map(len, self.seen.values())) + sum(map(len, self.visitors_in.values()))
        return marks * MARK_BYTES

    def marks_to_spill(self) -> list[tuple[BucketKey, set[int]]]:
        """The buckets whose marks should go to disk, with their marks.

        Once the caller stored them, it calls `marks_spilled` with the same
        list; until then nothing changes, so a failed write loses nothing."""
        return [(k, m) for k, m in self.seen.items() if m]

    def marks_spilled(self, spilled: list[tuple[BucketKey, set[int]]]) -> None:
        for key, _ in spilled:
            self.seen[key] = set()  # still loaded: the rest is on disk
            cold = self.cold_visitors.get(key)
            if cold is None:
                cold = self.cold_visitors[key] = IdSet()
            cold.update(self.visitors_in.get(key, set()))
            self.visitors_in[key] = set()

    def cold_marks(self, records: Iterable[EnrichedRecord]) -> dict[BucketKey, set[int]]:
        """Per bucket, the marks `add` may ask about for events of visitors
        whose marks are on disk: the caller reads which of them are there
        (`load_cold`) before counting the events."""
        out: dict[BucketKey, set[int]] = {}
        if not self.cold_visitors:
            return out
        cold = self.cold_visitors
        for rec in records:
            if rec.client.bot:
                continue
            site, ev = rec.event.site_id, rec.event
            hour, day = buckets(ev.timestamp_ms, self.tz(site))
            hour_key, day_key = (site, HOUR, hour), (site, DAY, day)
            vint = visitor_int(rec.visitor)
            in_hour = hour_key in cold and vint in cold[hour_key]
            in_day = day_key in cold and vint in cold[day_key]
            if not (in_hour or in_day):
                continue
            pairs = event_pairs(ev.event_type == PAGEVIEW, ev.path, rec.goals, ev.props.items())
            pairs += split_pairs(session_dims(rec))[1]
            s = self.book.peek(site, rec.visitor, rec.prev_visitor)
            if s is not None:
                pairs += split_pairs(s.dims)[1]
            for key, gran, bucket, wanted in (
                (hour_key, HOUR, hour, in_hour),
                (day_key, DAY, day, in_day),
            ):
                if wanted:
                    out.setdefault(key, set()).update(
                        mark(gran, bucket, dim, value, rec.visitor) for dim, value in pairs
                    )
        return out

    def load_cold(self, key: BucketKey, marks: set[int]) -> None:
        """Marks read back from disk (a subset of what `cold_marks` asked)."""
        self.seen[key] |= marks

    # -- counting ----------------------------------------------------------

    def add(self, seq: int, rec: EnrichedRecord) -> None:
        """Count one event into the pending batch (the hot path: once per event)."""
        ev = rec.event
        site, ts = ev.site_id, ev.timestamp_ms
        hour, day = buckets(ts, self.tz(site))
        if seq > self.last_seq:
            self.last_seq = seq
        if rec.received_ms > self.watermark_ms:
            self.watermark_ms = rec.received_ms
        pending = self.pending
        pending.n_events += 1
        if ev.event_type == ENGAGEMENT:
            if not rec.client.bot:
                self._count_engagement(rec, hour, day)
            return
        pageview = ev.event_type == PAGEVIEW
        hour_key, day_key = (site, HOUR, hour), (site, DAY, day)
        in_hour, in_day = pending.buckets[hour_key], pending.buckets[day_key]
        if rec.client.bot:
            _count_bot(in_hour, in_day, pageview)
            return
        s = self.book.session_for(
            seq, site, rec.visitor, rec.prev_visitor, ts, partial(self.dims_of, rec)
        )
        s.add(ts, pageview, ev.path, bool(rec.goals))
        self.dirty[s.sid] = s
        if rec.received_ms > s.touched_ms:
            s.touched_ms = rec.received_ms
        cache = self.visits.get(s.sid)
        if cache is None:
            cache = self.visits[s.sid] = VisitCache(split_pairs(s.dims), visitor_int(s.visitor))
        self.touched[hour_key] = self.touched[day_key] = self.watermark_ms
        seen_hour, seen_day = self.seen[hour_key], self.seen[day_key]
        # After midnight the event may carry the visit's alias, not its own id.
        vid = cache.visitor_number if rec.visitor == s.visitor else visitor_int(rec.visitor)
        self.visitors_in[hour_key].add(vid)
        self.visitors_in[day_key].add(vid)
        new_hour, new_day = _count_event(rec, hour, day, in_hour, in_day, seen_hour, seen_day)
        # Most events of a visit come in an hour and day already marked for
        # it and have nothing to count here: skipping the calls then is worth
        # ~10% of `add` (timed over 100k synthetic events). Only a shortcut:
        # the function does nothing in that case anyway.
        if new_hour or new_day or cache.marked_hour != hour or cache.marked_day != day:
            _count_visit_visitors(s, cache, rec.visitor, (hour, in_hour, seen_hour, new_hour), HOUR)
            _count_visit_visitors(s, cache, rec.visitor, (day, in_day, seen_day, new_day), DAY)
        amount = micros(ev.revenue_amount) if ev.revenue_amount is not None else None
        if amount is not None and ev.revenue_currency is not None:
            self._count_revenue(site, hour, day, rec.goals, ev.revenue_currency, amount)
        pending.events.append(_event_row(rec, s, vid, amount))

    def _count_engagement(self, rec: EnrichedRecord, hour: int, day: int) -> None:
        """Engaged time to the site and page rows, a deeper scroll to the page's."""
        ev = rec.event
        site = ev.site_id
        s = self.book.peek(site, rec.visitor, rec.prev_visitor)
        if (
            s is None
            or not s.start_ms - SESSION_GAP_MS <= ev.timestamp_ms <= s.end_ms + SESSION_GAP_MS
        ):
            return
        cache = self.visits.get(s.sid)
        if cache is None:
            cache = self.visits[s.sid] = VisitCache(split_pairs(s.dims), visitor_int(s.visitor))
        if cache.scrolled is None:
            cache.scrolled = {}
        count_engagement(self.pending, cache.scrolled, site, ev, (hour, day))

    def _count_revenue(
        self, site: str, hour: int, day: int, goals: Iterable[str], currency: str, amount: int
    ) -> None:
        for dim, value in [(SITE, ""), *((GOAL, g) for g in goals)]:
            for gran, bucket in ((HOUR, hour), (DAY, day)):
                self.pending.add_revenue((site, gran, bucket, dim, value, currency), amount)

    def restore(self, session: Session, flushed: Contribution) -> None:
        """An open visit as the store holds it (after a restart), with what
        it already added to the rows."""
        if self.book.restore(session):
            self.flushed[session.sid] = flushed

    # -- flushing ----------------------------------------------------------

    def settle(self, limit: int) -> bool:
        """Add up to `limit` changed visits to the rows; True when none is left.

        Done in slices before a flush so the event loop is never held long.
        """
        while self.dirty and limit > 0:
            limit -= 1
            _, s = self.dirty.popitem()
            cache = self.visits.get(s.sid)
            new = contribution(s, self.tz(s.site), cache.pairs if cache else None)
            old = self.flushed.get(s.sid)
            settle_visit(self.pending.buckets, s.site, old, new)
            self.flushed[s.sid] = new  # what the rows (and, after the flush, SQLite) hold
            self.pending.sessions.append((s, new))
        return not self.dirty

    def take(self) -> FlushBatch:
        """Settle what is left and hand over everything since the last flush."""
        self.settle(len(self.dirty))
        batch, self.pending = self.pending, FlushBatch()
        batch.last_seq, batch.watermark_ms = self.last_seq, self.watermark_ms
        return batch

    def committed(self, batch: FlushBatch) -> None:
        """The batch is durable: sessions are clean, stale state may go."""
        for s, _ in batch.sessions:
            if s.sid not in self.dirty:
                s.dirty = False
        for s in self.book.evict(self.watermark_ms - SESSION_GAP_MS - SKEW_MS):
            self.visits.pop(s.sid, None)
            self.flushed.pop(s.sid, None)
        # Unique-visitor sets of hours and days nobody touched for a while are
        # dropped; they are reloaded from the per-event rows if a late event
        # comes.
        horizon = self.watermark_ms - IDLE_MARKS_MS
        for key in [k for k, t in self.touched.items() if t < horizon]:
            self.seen.pop(key, None)
            self.visitors_in.pop(key, None)
            if self.cold_visitors.pop(key, None) is not None:
                self.dropped_cold.append(key)
            del self.touched[key]

    def failed(self, batch: FlushBatch) -> None:
        """The flush did not happen: put its counts back for the next attempt."""
        self.pending.put_back(batch)
        for s, _ in batch.sessions:
            # The rows put back already hold the visit's contribution
            # (`self.flushed` says so); settling it again adds only later changes,
            # and puts the visit in the next batch to be saved.
            self.dirty[s.sid] = s


def _count_bot(in_hour: Rows, in_day: Rows, pageview: bool) -> None:
    """Bot events count in BOTS rows only: never in visits or visitors."""
    for rows in (in_hour, in_day):
        row = rows[BOTS_PAIR]
        row[V_PAGEVIEWS] += pageview
        row[V_EVENTS] += 1


def _count_event(
    rec: EnrichedRecord,
    hour: int,
    day: int,
    in_hour: Rows,
    in_day: Rows,
    seen_hour: set[int],
    seen_day: set[int],
) -> tuple[bool, bool]:
    """Count an event under its event-level pairs (SITE, page, goals, props).

    Returns whether the visitor is new to the site in the hour and in the day.
    Rows are keyed by shared pair objects: no key is built per row."""
    ev, visitor = rec.event, rec.visitor
    pageview = ev.event_type == PAGEVIEW
    conversion = bool(rec.goals)
    new_in_hour = new_in_day = False
    for p in event_pairs(pageview, ev.path, rec.goals, ev.props.items()):
        dim, value = p
        row, day_row = in_hour[p], in_day[p]
        row[V_PAGEVIEWS] += pageview
        day_row[V_PAGEVIEWS] += pageview
        row[V_EVENTS] += 1
        day_row[V_EVENTS] += 1
        if conversion and dim in (SITE, GOAL):
            row[V_CONVERSIONS] += 1
            day_row[V_CONVERSIONS] += 1
        m = mark(HOUR, hour, dim, value, visitor)
        if m in seen_hour:
            # Marked in this hour, so marked in its day too (every event
            # marks both; recounts rebuild both from the same rows).
            continue
        seen_hour.add(m)
        row[V_VISITORS] += 1
        m = mark(DAY, day, dim, value, visitor)
        new_day = m not in seen_day
        if new_day:
            seen_day.add(m)
            day_row[V_VISITORS] += 1
        if dim == SITE:
            new_in_hour, new_in_day = True, new_day
    return new_in_hour, new_in_day


def _count_visit_visitors(
    s: Session,
    cache: VisitCache,
    visitor: str,
    where: tuple[int, Rows, set[int], bool],
    gran: int,
) -> None:
    """Count the visitor under the visit's dimensions in one hour or day.

    `where` is (bucket, its rows, its marks, whether the visitor is new to
    the site there)."""
    bucket, rows, seen, new = where
    constant, per_visit = cache.pairs
    if new and s.events == 1:
        # This event opened the visit, so the visit's contribution goes to
        # these rows when it is settled: its visitor is counted there (one
        # update instead of two).
        s.first_visits |= 1 << gran
    elif new:
        # First event of this visitor in the bucket: it counts once for each
        # of its fixed dimensions (browser, OS, country...).
        for p in constant:
            rows[p][V_VISITORS] += 1
    last = cache.marked_hour if gran == HOUR else cache.marked_day
    if new or last != bucket:
        # Source, UTM...: the same for every event of the visit, so marked
        # once per visit and bucket.
        if gran == HOUR:
            cache.marked_hour = bucket
        else:
            cache.marked_day = bucket
        for p in per_visit:
            m = mark(gran, bucket, p[0], p[1], visitor)
            if m not in seen:
                seen.add(m)
                rows[p][V_VISITORS] += 1


def _event_row(rec: EnrichedRecord, s: Session, vid: int, amount: int | None) -> EventRow:
    ev = rec.event
    return EventRow(
        ev.site_id,
        ev.timestamp_ms,
        s.sid,
        vid,
        ev.event_type,
        ev.path,
        json_text(ev.props) if ev.props else None,
        json_text(list(rec.goals)) if rec.goals else None,
        amount,
        ev.revenue_currency if amount is not None else None,
        ev.user_id,
        rec.event_id,
    )
