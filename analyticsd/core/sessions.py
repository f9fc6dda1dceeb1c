"""Sessions (visits): the rules of SPEC §6, pure.

* A session is one visitor's events with no gap longer than 30 minutes
  (a gap of exactly 30 minutes continues it). Times are event times.
* Entry page = the earliest page view, exit page = the latest.
  Duration = last event - first event.
* Bounce: exactly one page view and no conversion.
* Engaged: duration ≥ 10 s, or ≥ 2 page views, or a conversion.
* Midnight: the visitor id changes with the daily salt; an event that carries
  the id under yesterday's salt continues that id's open session, and the new
  id is remembered as an alias of it.
* Events that arrive late (older than the open session by more than the
  gap) form a session of their own rather than rewriting the open one.

The aggregator owns a SessionBook, persists the sessions it changes with each
flush and reloads the open ones on start, so a restart never splits a visit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from analyticsd.core.idset import IdSet

SESSION_GAP_MS = 30 * 60 * 1000
ENGAGED_MIN_MS = 10_000
ENGAGED_MIN_PAGEVIEWS = 2


@dataclass(slots=True)
class Session:
    sid: int  # the spool sequence of its first event: unique and replayable
    site: str
    visitor: str
    start_ms: int
    end_ms: int
    # Session dimensions, fixed by the landing event (see dimensions.SESSION_DIMS).
    dims: tuple[str, ...]
    entry: str = ""
    entry_ms: int = 0
    exit: str = ""
    exit_ms: int = 0
    pageviews: int = 0
    events: int = 0
    conversions: int = 0
    alias: str = ""  # the visitor's id under the next day's salt, once seen
    # Arrival time of its latest event: a visit nobody added to for a while
    # (in arrival time, whatever its events' own times) is closed.
    touched_ms: int = 0
    # Bit 1 / 2: the visit opened with its visitor's first event of that hour
    # / day (see contributions.Contribution.visitors).
    first_visits: int = 0
    # Changed since it was last saved (set on every event, cleared once the
    # flush that saved it committed).
    dirty: bool = True

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def bounce(self) -> bool:
        return self.pageviews == 1 and self.conversions == 0

    @property
    def engaged(self) -> bool:
        return (
            self.duration_ms >= ENGAGED_MIN_MS
            or self.pageviews >= ENGAGED_MIN_PAGEVIEWS
            or self.conversions > 0
        )

    def add(self, ts: int, pageview: bool, path: str, conversion: bool) -> None:
        self.start_ms = min(self.start_ms, ts)
        self.end_ms = max(self.end_ms, ts)
        self.events += 1
        if conversion:
            self.conversions += 1
        if pageview:
            if self.pageviews == 0 or ts < self.entry_ms:
                self.entry, self.entry_ms = path, ts
            if self.pageviews == 0 or ts >= self.exit_ms:
                self.exit, self.exit_ms = path, ts
            self.pageviews += 1
        self.dirty = True


def visit_key(site: str, visitor: str) -> int:
    """What the book remembers of a visit it evicted: a 64-bit hash of its key
    (a collision only costs a lookup that finds nothing)."""
    return hash((site, visitor))


class SessionBook:
    """Open sessions by (site, visitor id); bounded, least recently added to
    evicted first.

    A visit evicted while it may still grow (clean: SQLite holds it) is
    remembered in `evicted` by its keys; an event of such a visitor makes the
    caller read the visit back from SQLite (`to_restore`, then `restore`)
    before it is counted, so eviction never splits a visit. Entries older
    than two generations of `horizon_ms` are forgotten: a visit nobody added
    to for that long is closed anyway."""

    def __init__(self, max_open: int = 200_000, window_ms: int = SESSION_GAP_MS) -> None:
        self._open: dict[tuple[str, str], Session] = {}
        # One visit per visitor rebuilt from late events (an offline queue
        # flushed hours later), kept apart from the visitor's open session.
        self._late: dict[tuple[str, str], Session] = {}
        # Visits replaced in `_open` by a newer visit of the same visitor
        # before their last changes were flushed; kept until they are.
        self._closed: list[Session] = []
        self.max_open = max_open
        # How far the `evict` horizon trails the newest arrival.
        self.window_ms = window_ms
        self.evicted, self._evicted_before = IdSet(), IdSet()
        self._generation_ms = 0

    def __len__(self) -> int:
        return len(self._open)

    def cold_bytes(self) -> int:
        return self.evicted.nbytes() + self._evicted_before.nbytes()

    def peek(self, site: str, visitor: str, prev_visitor: str = "") -> Session | None:
        s = self._open.get((site, visitor))
        if s is None and prev_visitor:
            s = self._open.get((site, prev_visitor))
        return s

    def remember_evicted(self, site: str, visitor: str) -> None:
        self.evicted.add(visit_key(site, visitor))

    def was_evicted(self, site: str, visitor: str) -> bool:
        k = visit_key(site, visitor)
        return k in self.evicted or k in self._evicted_before

    def to_restore(self, keys: Iterable[tuple[str, str, str]]) -> set[tuple[str, str]]:
        """Of (site, visitor, prev_visitor) of events, the (site, visitor id)
        whose visit was evicted and must be read back first."""
        out: set[tuple[str, str]] = set()
        if not (self.evicted or self._evicted_before):
            return out
        for site, visitor, prev in keys:
            if (site, visitor) in self._open:
                continue
            if self.was_evicted(site, visitor):
                out.add((site, visitor))
            if prev and (site, prev) not in self._open and self.was_evicted(site, prev):
                out.add((site, prev))
        return out

    def sessions(self) -> Iterator[Session]:
        seen: set[int] = set()
        for s in [*self._open.values(), *self._late.values(), *self._closed]:
            if s.sid not in seen:
                seen.add(s.sid)
                yield s

    def restore(self, session: Session) -> bool:
        """A visit as SQLite holds it, open again; False (and nothing done)
        if one of its ids has an open visit already (that one is newer)."""
        keys = [(session.site, session.visitor)]
        if session.alias:
            keys.append((session.site, session.alias))
        if any(k in self._open for k in keys):
            return False
        session.dirty = False
        for k in keys:
            self._open[k] = session
        return True

    def session_for(
        self,
        seq: int,
        site: str,
        visitor: str,
        prev_visitor: str,
        ts: int,
        dims: tuple[str, ...] | Callable[[], tuple[str, ...]],
    ) -> Session:
        """The session an event at `ts` belongs to, opening one if needed.

        `dims` (or the function giving them, called only when a visit opens)
        are the new visit's dimension values."""
        key = (site, visitor)
        s = self._open.get(key)
        if s is None and prev_visitor:
            old = self._open.get((site, prev_visitor))
            if old is not None and old.end_ms <= ts <= old.end_ms + SESSION_GAP_MS:
                # The salt changed at midnight mid-visit: keep the visit.
                old.alias = visitor
                old.dirty = True
                self._open[key] = old
                return old
        if s is not None:
            if s.start_ms - SESSION_GAP_MS <= ts <= s.end_ms + SESSION_GAP_MS:
                return s
            if ts < s.start_ms:
                # A late event from before the open session: a visit of its
                # own, kept apart so the open one stays current.
                late = self._late.get(key)
                if late is not None and (
                    late.start_ms - SESSION_GAP_MS <= ts <= late.end_ms + SESSION_GAP_MS
                ):
                    return late
                late = Session(seq, site, visitor, ts, ts, dims() if callable(dims) else dims)
                if key in self._late and self._late[key].dirty:
                    self._closed.append(self._late[key])
                self._late[key] = late
                return late
            if s.dirty:
                self._closed.append(s)
        s = Session(seq, site, visitor, ts, ts, dims() if callable(dims) else dims)
        self._open[key] = s
        return s

    def evict(self, before_ms: int) -> list[Session]:
        """Forget clean sessions last added to before `before_ms` (arrival time).

        Returns the sessions forgotten (one may be listed twice, or still be
        open under its other id when the memory bound dropped one of them)."""
        gone = [s for s in self._late.values() if not s.dirty]
        gone += [s for s in self._closed if not s.dirty]
        self._late = {k: s for k, s in self._late.items() if s.dirty}
        self._closed = [s for s in self._closed if s.dirty]
        stale = [k for k, s in self._open.items() if s.touched_ms < before_ms and not s.dirty]
        gone += [self._open.pop(k) for k in stale]
        if self._generation_ms == 0:
            self._generation_ms = before_ms
        elif before_ms >= self._generation_ms + self.window_ms:
            # An eviction remembered in the generation begun at G is of a
            # visit last added to before G + window; once the horizon is past
            # that (two generations on), it cannot grow again.
            self._evicted_before, self.evicted = self.evicted, IdSet()
            self._generation_ms = before_ms
        if 0 <= self.max_open < len(self._open):
            # Memory bound: the least recently added to clean visits go; they
            # may still grow, so they are remembered and read back if they do.
            by_touch = sorted((s.touched_ms, k) for k, s in self._open.items() if not s.dirty)
            for _, k in by_touch[: len(self._open) - self.max_open]:
                s = self._open.pop(k)
                self.remember_evicted(*k)
                gone.append(s)
        return gone
