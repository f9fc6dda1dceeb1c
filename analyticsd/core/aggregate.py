"""The analytics model: enriched events → sessions → additive bucket deltas (pure).

How buckets are keyed
---------------------
Every counter lives in one row keyed by

    (site, granularity, bucket, dimension, value)

* granularity: HOUR, DAY, WEEK or MONTH; bucket: the local hour, day, week
  or month number in the site's timezone (days since 1970-01-01 on the local
  calendar; hour = day * 24 + local hour; week = (day + 3) // 7, weeks
  starting on Monday; month = year * 12 + month - 1). WEEK and MONTH rows
  are the sums of their DAY rows, written in the same flush, so a year's
  breakdown reads twelve month rows per value instead of 365 day rows, and a
  30-day one mostly week rows. Other ranges are sums of these.
* dimension: a small integer code (DIMENSIONS maps it to the property name
  of the Stats API), value: the dimension's value ("" for SITE totals).
  Custom properties share one code with value "name\\x1fvalue".

Each row holds eight integers (the vector V_*): visitors, visits, pageviews,
events, bounces, visit duration (ms), engaged visits, conversions.

* Event-level counts (pageviews, events, conversions of SITE, page, goal and
  property rows) go to the bucket of the event's own time.
* Visit-level counts (visits, bounces, duration, engaged, and for visit
  dimensions also the visit's pageviews/events/conversions) go to the bucket
  where the visit started. A visit that grows after a flush is re-flushed as
  a difference (new minus what was flushed), so the rows stay additive.
* Visitors are unique per row (distinct visitor ids with an event in that
  bucket). Ids change with the daily salt, so a multi-day range's visitors
  are the sum of its days' visitors. Entry and exit page rows count visits,
  not visitors (a visitor's exit page changes as the visit goes on).
* Bot events are counted only in BOTS rows (pageviews, events).
* Revenue is summed per currency in its own rows (SITE and goal), in
  millionths of the unit, so sums are exact.

Why it stays compact
--------------------
Rows exist only for values that occurred, integers are small (SQLite stores
0 and 1 in no payload bytes), the table is WITHOUT ROWID with the key as its
primary key (no separate index), dimension names are integer codes, and
empty values (no UTM, no region) make no row at all. Hourly rows dominate:
one row per hour per value seen in that hour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import NamedTuple

import msgspec

from analyticsd.core.buckets import zone
from analyticsd.core.ingest import PAGEVIEW, UTM_FIELDS
from analyticsd.core.records import EnrichedRecord
from analyticsd.core.sessions import SESSION_GAP_MS, Session, SessionBook

HOUR, DAY, MONTH, WEEK = 0, 1, 2, 3

SITE = 0
ENTRY_PAGE, EXIT_PAGE = 1, 2
PAGE, GOAL, PROP = 30, 31, 32
BOTS = 40
# Visit dimensions, in the order of Session.dims.
SESSION_DIMS: tuple[tuple[int, str], ...] = (
    (3, "visit:source"),
    (4, "visit:channel"),
    (5, "visit:referrer"),
    (6, "visit:utm_source"),
    (7, "visit:utm_medium"),
    (8, "visit:utm_campaign"),
    (9, "visit:utm_content"),
    (10, "visit:utm_term"),
    (11, "visit:browser"),
    (12, "visit:browser_version"),
    (13, "visit:os"),
    (14, "visit:os_version"),
    (15, "visit:device"),
    (16, "visit:country"),
    (17, "visit:region"),
    (18, "visit:city"),
    (19, "visit:screen"),
    (20, "visit:language"),
    (21, "visit:hostname"),
)
SESSION_DIM_CODES = tuple(code for code, _ in SESSION_DIMS)
DIMENSIONS: dict[int, str] = {
    SITE: "",
    ENTRY_PAGE: "visit:entry_page",
    EXIT_PAGE: "visit:exit_page",
    **dict(SESSION_DIMS),
    PAGE: "event:page",
    GOAL: "event:goal",
    PROP: "event:props",
    BOTS: "bots",
}
_SITE_PAIR = (SITE, "")
_BOTS_PAIR = (BOTS, "")
SEP = "\x1f"  # joins two-part values: "Chrome\x1f120.0", "plan\x1fpro"

V_VISITORS, V_VISITS, V_PAGEVIEWS, V_EVENTS = 0, 1, 2, 3
V_BOUNCES, V_DURATION, V_ENGAGED, V_CONVERSIONS = 4, 5, 6, 7
VECTOR_LEN = 8
# Events older than this behind the newest one seen may still extend an open
# visit (clients' clocks and queues lag); sessions are kept that long.
SKEW_MS = 15 * 60 * 1000

Key = tuple[str, int, int, int, str]  # site, granularity, bucket, dimension, value
RevKey = tuple[str, int, int, int, str, str]  # ... + currency

_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_QUANTUM_MS = 15 * 60 * 1000  # every UTC offset is a multiple of 15 minutes


@lru_cache(maxsize=65536)
def _buckets(tz_name: str, quantum: int) -> tuple[int, int]:
    local = datetime.fromtimestamp(quantum * _QUANTUM_MS / 1000, zone(tz_name))
    day = local.toordinal() - _EPOCH_ORDINAL
    return day * 24 + local.hour, day


def buckets(ts_ms: int, tz_name: str) -> tuple[int, int]:
    """(hour number, day number) of an instant in a timezone."""
    return _buckets(tz_name, ts_ms // _QUANTUM_MS)


def day_number(iso_date: str) -> int:
    return datetime.strptime(iso_date, "%Y-%m-%d").toordinal() - _EPOCH_ORDINAL


def day_label(day: int) -> str:
    return datetime.fromordinal(day + _EPOCH_ORDINAL).strftime("%Y-%m-%d")


@lru_cache(maxsize=4096)
def month_of(day: int) -> int:
    """The month number (year * 12 + month - 1) of a day number."""
    d = datetime.fromordinal(day + _EPOCH_ORDINAL)
    return d.year * 12 + d.month - 1


def week_of(day: int) -> int:
    """The week number (weeks from Monday) of a day number (day 0 was a Thursday)."""
    return (day + 3) // 7


def week_first_day(week: int) -> int:
    return week * 7 - 3


def month_first_day(month: int) -> int:
    """The day number of a month's first day."""
    return datetime(month // 12, month % 12 + 1, 1).toordinal() - _EPOCH_ORDINAL


def screen_class(width: int | None) -> str:
    if width is None or width <= 0:
        return ""
    if width < 576:
        return "Mobile"
    if width < 992:
        return "Tablet"
    if width < 1440:
        return "Laptop"
    return "Desktop"


@lru_cache(maxsize=16384)
def _joined(a: str, b: str) -> str:
    """a\x1fb, one shared object per distinct value (visits hold many)."""
    return f"{a}{SEP}{b}" if a and b else ""


@lru_cache(maxsize=65536)
def _pair(dim: int, value: str) -> tuple[int, str]:
    """One shared tuple per distinct (dim, value): open visits hold many."""
    return (dim, value)


def session_dims(rec: EnrichedRecord) -> tuple[str, ...]:
    """The visit dimension values a landing event gives its session (SESSION_DIMS order)."""
    ev, src, c, g = rec.event, rec.source, rec.client, rec.geo
    utm = ev.utm
    return (
        src.source,
        src.channel,
        src.referrer,
        *(utm.get(k, "") for k in UTM_FIELDS),
        c.browser,
        _joined(c.browser, c.browser_version),
        c.os,
        _joined(c.os, c.os_version),
        c.device,
        g.country,
        _joined(g.country, g.region) if g.region else "",
        _joined(g.country, g.city) if g.city else "",
        screen_class(ev.screen_width),
        rec.lang,
        ev.hostname,
    )


def session_pairs(dims: tuple[str, ...]) -> list[tuple[int, str]]:
    return [_pair(code, v) for code, v in zip(SESSION_DIM_CODES, dims, strict=True) if v]


# Visit dimensions that cannot differ between the visits of one visitor id
# (the id hashes the user agent and the address they are derived from; the
# language is taken as it first came). Their unique visitors follow from the
# SITE row's: no per-value marks are kept for them.
VISITOR_CONSTANT_DIMS = frozenset({11, 12, 13, 14, 15, 16, 17, 18, 20})


def split_pairs(
    dims: tuple[str, ...],
) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    """(visitor-constant pairs, pairs that may differ per visit)."""
    pairs = session_pairs(dims)
    return (
        tuple(p for p in pairs if p[0] in VISITOR_CONSTANT_DIMS),
        tuple(p for p in pairs if p[0] not in VISITOR_CONSTANT_DIMS),
    )


def event_pairs(
    pageview: bool, path: str, goals: Sequence[str], props: Collection[tuple[str, object]]
) -> list[tuple[int, str]]:
    pairs = [_SITE_PAIR, (PAGE, path)] if pageview else [_SITE_PAIR]
    if goals:
        pairs += [(GOAL, g) for g in goals]
    if props:
        pairs += [(PROP, f"{k}{SEP}{prop_text(v)}") for k, v in props]
    return pairs


def prop_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mark(gran: int, bucket: int, dim: int, value: str, visitor: str) -> int:
    """The member of a bucket's unique-visitor set for one row and visitor.

    Aggregation.add inlines this expression on its hot path; keep them equal
    (tests/storage/test_statsdb.py checks recounted marks equal live ones)."""
    return hash((gran, bucket, dim, value, visitor))


def visitor_marks(
    hour: int, day: int, visitor: str, pairs: Iterable[tuple[int, str]]
) -> Iterator[tuple[int, int, int, int, str]]:
    """(mark, granularity, bucket, dim, value) for every row an event touches."""
    for dim, value in pairs:
        yield mark(HOUR, hour, dim, value, visitor), HOUR, hour, dim, value
        yield mark(DAY, day, dim, value, visitor), DAY, day, dim, value


def micros(amount: str) -> int | None:
    try:
        return int((Decimal(amount) * 1_000_000).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


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


def contribution(s: Session, tz_name: str) -> Contribution:
    hour, day = buckets(s.start_ms, tz_name)
    return contribution_at(s, hour, day)


def contribution_at(s: Session, hour: int, day: int) -> Contribution:
    if s.pairs is None:
        s.pairs = split_pairs(s.dims)
    pairs = [*s.pairs[0], *s.pairs[1]]
    if s.entry:
        pairs += [_pair(ENTRY_PAGE, s.entry), _pair(EXIT_PAGE, s.exit)]
    bounce, engaged, duration = int(s.bounce), int(s.engaged), s.duration_ms
    return Contribution(
        hour,
        day,
        tuple(pairs),
        (0, 1, s.pageviews, s.events, bounce, duration, engaged, s.conversions),
        (0, 1, 0, 0, bounce, duration, engaged, 0),
        len(s.pairs[0]),
        (s.first_visits & 1, (s.first_visits >> 1) & 1),
    )


class EventRow(NamedTuple):
    """One per-event row (no IP, no user agent): funnels, exports, recounts."""

    site: str
    ts: int
    session: int
    visitor: int
    name: str
    path: str
    props: str | None
    goals: str | None
    revenue_micros: int | None
    currency: str | None
    user_id: str | None
    event_id: str


@dataclass
class FlushBatch:
    """Everything one flush writes, in one transaction."""

    last_seq: int
    watermark_ms: int
    # (site, granularity, bucket) → (dim, value) → vector; see flat_rows.
    buckets: dict[tuple[str, int, int], dict[tuple[int, str], list[int]]]
    revenue: dict[RevKey, list[int]]
    events: list[EventRow]
    sessions: list[tuple[Session, Contribution]]
    n_events: int

    def flat_rows(self) -> Iterator[tuple[str | int, ...]]:
        """One tuple per non-zero row: key then vector, then the WEEK and
        MONTH rows the DAY rows add up to. Run in the flush thread: with many
        rows it is too long a stretch for the event loop."""
        sums: dict[tuple[str, int, int, int, str], list[int]] = {}
        for (site, gran, bucket), rows in self.buckets.items():
            day = gran == DAY
            for (dim, value), v in rows.items():
                if any(v):
                    yield (site, gran, bucket, dim, value, *v)
                    if day:
                        for key in (
                            (site, WEEK, week_of(bucket), dim, value),
                            (site, MONTH, month_of(bucket), dim, value),
                        ):
                            acc = sums.get(key)
                            if acc is None:
                                sums[key] = list(v)
                            else:
                                for i, x in enumerate(v):
                                    acc[i] += x
        for key, v in sums.items():
            if any(v):
                yield (*key, *v)

    def revenue_rows(self) -> Iterator[tuple[str | int, ...]]:
        """Revenue rows, plus the WEEK and MONTH rows their DAY rows add up to."""
        sums: dict[tuple[str, int, int, int, str, str], list[int]] = {}
        for (site, gran, bucket, dim, value, cur), (amount, n) in self.revenue.items():
            yield (site, gran, bucket, dim, value, cur, amount, n)
            if gran == DAY:
                for g, b in ((WEEK, week_of(bucket)), (MONTH, month_of(bucket))):
                    acc = sums.setdefault((site, g, b, dim, value, cur), [0, 0])
                    acc[0] += amount
                    acc[1] += n
        for key, (amount, n) in sums.items():
            yield (*key, amount, n)

    @property
    def rows(self) -> dict[Key, list[int]]:
        """The non-zero rows by full key (for tests and small batches)."""
        return {
            (site, gran, bucket, dim, value): v
            for (site, gran, bucket), rows in self.buckets.items()
            for (dim, value), v in rows.items()
            if any(v)
        }


def visitor_int(visitor: str) -> int:
    """A 64-bit hex visitor id as a signed SQLite integer."""
    try:
        n = int(visitor, 16)
    except ValueError:
        return 0
    return n - (1 << 64) if n >= 1 << 63 else n


def visitor_hex(n: int) -> str:
    return f"{n & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class Aggregation:
    """In-memory state between flushes; see the module docstring."""

    tz_of: dict[str, str] | None = None
    book: SessionBook = field(default_factory=SessionBook)
    last_seq: int = 0
    watermark_ms: int = 0
    rows: dict[tuple[str, int, int], dict[tuple[int, str], list[int]]] = field(default_factory=dict)
    revenue: dict[RevKey, list[int]] = field(default_factory=dict)
    events: list[EventRow] = field(default_factory=list)
    n_events: int = 0
    # Unique-visitor marks per (site, granularity, bucket), loaded from SQLite
    # before use; hours and days apart, so a finished hour's marks can go.
    seen: dict[tuple[str, int, int], set[int]] = field(default_factory=dict)
    touched: dict[tuple[str, int, int], int] = field(default_factory=dict)
    # Visits changed since they were last settled into the rows, and the
    # settled ones waiting for the next flush.
    dirty: dict[int, Session] = field(default_factory=dict)
    settled: list[tuple[Session, Contribution]] = field(default_factory=list)

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

    def load_marks(self, site: str, gran: int, bucket: int, marks: set[int]) -> None:
        self.seen[(site, gran, bucket)] = marks

    # -- counting ----------------------------------------------------------

    def _bucket(self, site: str, gran: int, bucket: int) -> dict[tuple[int, str], list[int]]:
        key = (site, gran, bucket)
        rows = self.rows.get(key)
        if rows is None:
            rows = self.rows[key] = {}
        return rows

    def add(self, seq: int, rec: EnrichedRecord) -> None:
        # The hot path: one call per event. Written out by hand (local names,
        # no helper calls per row) because it runs for every event. Rows live
        # in one dict per (site, granularity, bucket), keyed by the (dim,
        # value) pair objects the visit already holds: no key is built per row.
        ev = rec.event
        site, ts = ev.site_id, ev.timestamp_ms
        hour, day = buckets(ts, self.tz(site))
        if seq > self.last_seq:
            self.last_seq = seq
        if rec.received_ms > self.watermark_ms:
            self.watermark_ms = rec.received_ms
        self.n_events += 1
        pageview = ev.event_type == PAGEVIEW
        in_hour = self._bucket(site, HOUR, hour)
        in_day = self._bucket(site, DAY, day)
        if rec.client.bot:
            for rows in (in_hour, in_day):
                row = rows.get(_BOTS_PAIR)
                if row is None:
                    row = rows[_BOTS_PAIR] = [0] * VECTOR_LEN
                row[V_PAGEVIEWS] += pageview
                row[V_EVENTS] += 1
            return
        conversion = bool(rec.goals)
        s = self.book.session_for(
            seq, site, rec.visitor, rec.prev_visitor, ts, partial(session_dims, rec)
        )
        s.add(ts, pageview, ev.path, conversion)
        self.dirty[s.sid] = s
        if rec.received_ms > s.touched_ms:
            s.touched_ms = rec.received_ms
        seen_hour = self.seen[(site, HOUR, hour)]
        seen_day = self.seen[(site, DAY, day)]
        touched = self.touched
        touched[(site, HOUR, hour)] = touched[(site, DAY, day)] = self.watermark_ms
        grans = ((HOUR, hour, in_hour, seen_hour), (DAY, day, in_day, seen_day))
        visitor = rec.visitor
        new_in_hour = new_in_day = False
        for pair in event_pairs(pageview, ev.path, rec.goals, ev.props.items()):
            dim, value = pair
            counts_conversions = conversion and dim in (SITE, GOAL)
            row = in_hour.get(pair)
            if row is None:
                row = in_hour[pair] = [0] * VECTOR_LEN
            row[V_PAGEVIEWS] += pageview
            row[V_EVENTS] += 1
            if counts_conversions:
                row[V_CONVERSIONS] += 1
            day_row = in_day.get(pair)
            if day_row is None:
                day_row = in_day[pair] = [0] * VECTOR_LEN
            day_row[V_PAGEVIEWS] += pageview
            day_row[V_EVENTS] += 1
            if counts_conversions:
                day_row[V_CONVERSIONS] += 1
            m = hash((HOUR, hour, dim, value, visitor))
            if m in seen_hour:
                # Marked in this hour, so marked in its day too (every event
                # marks both; recounts rebuild both from the same rows).
                continue
            seen_hour.add(m)
            row[V_VISITORS] += 1
            m = hash((DAY, day, dim, value, visitor))
            new_day = m not in seen_day
            if new_day:
                seen_day.add(m)
                day_row[V_VISITORS] += 1
            if dim == SITE:
                new_in_hour, new_in_day = True, new_day
        pairs = s.pairs
        if pairs is None:
            pairs = s.pairs = split_pairs(s.dims)
        constant, per_visit = pairs
        opened = s.events == 1  # this event opened the visit: same buckets
        for (gran, bucket, rows, seen), new in zip(grans, (new_in_hour, new_in_day), strict=True):
            if new and opened:
                # Counted with the visit's contribution when it is settled,
                # which touches those rows anyway (one update instead of two).
                s.first_visits |= 1 if gran == HOUR else 2
            elif new:
                # First event of this visitor in the bucket: it counts once
                # for each of its fixed dimensions (browser, OS, country...).
                for pair in constant:
                    row = rows.get(pair)
                    if row is None:
                        row = rows[pair] = [0] * VECTOR_LEN
                    row[V_VISITORS] += 1
            last = s.marked_hour if gran == HOUR else s.marked_day
            if new or last != bucket:
                # Source, UTM...: the same for every event of the visit, so
                # marked once per visit and bucket.
                if gran == HOUR:
                    s.marked_hour = bucket
                else:
                    s.marked_day = bucket
                for pair in per_visit:
                    m = hash((gran, bucket, pair[0], pair[1], visitor))
                    if m not in seen:
                        seen.add(m)
                        row = rows.get(pair)
                        if row is None:
                            row = rows[pair] = [0] * VECTOR_LEN
                        row[V_VISITORS] += 1
        amount = micros(ev.revenue_amount) if ev.revenue_amount is not None else None
        if amount is not None and ev.revenue_currency is not None:
            cur = ev.revenue_currency
            for dim, value in [(SITE, ""), *((GOAL, g) for g in rec.goals)]:
                for gran, bucket in ((HOUR, hour), (DAY, day)):
                    rev = self.revenue.setdefault((site, gran, bucket, dim, value, cur), [0, 0])
                    rev[0] += amount
                    rev[1] += 1
        if visitor == s.visitor:
            vid = s.visitor_number
            if vid is None:
                vid = s.visitor_number = visitor_int(visitor)
        else:  # after midnight: the alias
            vid = visitor_int(visitor)
        self.events.append(
            EventRow(
                site,
                ts,
                s.sid,
                vid,
                ev.event_type,
                ev.path,
                _json(ev.props) if ev.props else None,
                _json(list(rec.goals)) if rec.goals else None,
                amount,
                ev.revenue_currency if amount is not None else None,
                ev.user_id,
                rec.event_id,
            )
        )

    # -- flushing ----------------------------------------------------------

    def _apply(self, site: str, c: Contribution, sign: int) -> None:
        _, visits, pvs, evs, bounces, dur, engaged, convs = (sign * x for x in c.vector)
        n_constant = c.n_constant
        for gran, bucket in ((HOUR, c.hour), (DAY, c.day)):
            rows = self._bucket(site, gran, bucket)
            new_visitor = sign * c.visitors[gran]
            row = rows.get(_SITE_PAIR)
            if row is None:
                row = rows[_SITE_PAIR] = [0] * VECTOR_LEN
            row[V_VISITS] += visits
            row[V_BOUNCES] += bounces
            row[V_DURATION] += dur
            row[V_ENGAGED] += engaged
            for i, pair in enumerate(c.pairs):
                row = rows.get(pair)
                if row is None:
                    row = rows[pair] = [0] * VECTOR_LEN
                if i < n_constant:
                    row[V_VISITORS] += new_visitor
                row[V_VISITS] += visits
                row[V_PAGEVIEWS] += pvs
                row[V_EVENTS] += evs
                row[V_BOUNCES] += bounces
                row[V_DURATION] += dur
                row[V_ENGAGED] += engaged
                row[V_CONVERSIONS] += convs

    def _apply_diff(self, site: str, old: Contribution, new: Contribution) -> None:
        vdiff = [a - b for a, b in zip(new.vector, old.vector, strict=True)]
        sdiff = [a - b for a, b in zip(new.site_vector, old.site_vector, strict=True)]
        if not any(vdiff) and not any(sdiff):
            return
        for gran, bucket in ((HOUR, new.hour), (DAY, new.day)):
            rows = self._bucket(site, gran, bucket)
            for pairs, diff in (((_SITE_PAIR,), sdiff), (new.pairs, vdiff)):
                for pair in pairs:
                    row = rows.get(pair)
                    if row is None:
                        row = rows[pair] = [0] * VECTOR_LEN
                    for k, v in enumerate(diff):
                        row[k] += v

    def settle(self, limit: int) -> bool:
        """Add up to `limit` changed visits to the rows; True when none is left.

        Done in slices before a flush so the event loop is never held long.
        """
        while self.dirty and limit > 0:
            limit -= 1
            _, s = self.dirty.popitem()
            new = contribution(s, self.tz(s.site))
            old = s.flushed
            if old is None:
                self._apply(s.site, new, +1)
            elif isinstance(old, Contribution):
                if (old.hour, old.day, old.pairs) == (new.hour, new.day, new.pairs):
                    self._apply_diff(s.site, old, new)
                else:  # the visit moved rows (new exit page): move it whole
                    self._apply(s.site, old, -1)
                    self._apply(s.site, new, +1)
            s.flushed = new  # what the rows (and, after the flush, SQLite) hold
            self.settled.append((s, new))
        return not self.dirty

    def take(self) -> FlushBatch:
        """Settle what is left and hand over everything since the last flush."""
        self.settle(len(self.dirty))
        batch = FlushBatch(
            last_seq=self.last_seq,
            watermark_ms=self.watermark_ms,
            buckets=self.rows,
            revenue=self.revenue,
            events=self.events,
            sessions=self.settled,
            n_events=self.n_events,
        )
        self.rows, self.revenue, self.events, self.n_events = {}, {}, [], 0
        self.settled = []
        return batch

    def committed(self, batch: FlushBatch) -> None:
        """The batch is durable: sessions are clean, stale state may go."""
        for s, _ in batch.sessions:
            if s.sid not in self.dirty:
                s.dirty = False
        self.book.evict(self.watermark_ms - SESSION_GAP_MS - SKEW_MS)
        # Unique-visitor sets of hours and days nobody touched for an hour are
        # dropped; they are reloaded from the per-event rows if a late event
        # comes.
        horizon = self.watermark_ms - 3600_000
        for key in [k for k, t in self.touched.items() if t < horizon]:
            self.seen.pop(key, None)
            del self.touched[key]

    def failed(self, batch: FlushBatch) -> None:
        """The flush did not happen: put its counts back for the next attempt."""
        for (site, gran, bucket), old_rows in batch.buckets.items():
            rows = self._bucket(site, gran, bucket)
            for pair, vec in old_rows.items():
                row = rows.get(pair)
                if row is None:
                    row = rows[pair] = [0] * VECTOR_LEN
                for i, v in enumerate(vec):
                    row[i] += v
        for rkey, rv in batch.revenue.items():
            rev = self.revenue.setdefault(rkey, [0, 0])
            rev[0] += rv[0]
            rev[1] += rv[1]
        self.events[:0] = batch.events
        self.n_events += batch.n_events
        for s, _ in batch.sessions:
            # The rows above already hold the visit's contribution (`flushed`
            # says so); settling it again adds only later changes, and puts
            # the visit in the next batch to be saved.
            self.dirty[s.sid] = s


_json_encoder = msgspec.json.Encoder()


def _json(value: object) -> str:
    return _json_encoder.encode(value).decode()
