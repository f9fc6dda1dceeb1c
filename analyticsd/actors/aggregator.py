"""The aggregator: enriched records (from the enricher) → visits and buckets → SQLite.

Exactly-once: a flush writes the bucket deltas, the per-event rows, the
changed sessions and the last spool sequence they cover in one SQLite
transaction; on start we reload the open sessions and resume right after that
sequence. The spool cursor is moved only after the flush committed, so the
spool never forgets a record SQLite has not counted. The final flush on
shutdown is shielded from cancellation and bounded in time.

A flush that fails (a full disk: SQLite cannot grow its WAL or its file)
puts the aggregation back to what SQLite holds, the way a start does: the
in-memory counts are dropped, the open visits reloaded and the feed read
again after the last sequence SQLite counted. Then flushes go on in chunks
of at most `FlushLimit` events, smaller after each failure and larger again
after successes, each one transaction with its own `last_seq`: a backlog
drains with a few MB free, still exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from analyticsd import tuning
from analyticsd.actors.enricher import Batch, Feed
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import sleep_beating
from analyticsd.core import faults
from analyticsd.core.aggregate import SKEW_MS, VISIT_BYTES, Aggregation
from analyticsd.core.errors import RecomputeRefused, ShuttingDown, SpoolError, StatsStoreError
from analyticsd.core.flush_limit import FlushLimit
from analyticsd.core.heartbeat import HEARTBEAT_S, no_beat
from analyticsd.core.messages import Advance, Recomputed, RecomputeDay
from analyticsd.core.metrics import Metrics
from analyticsd.core.runs import FAILED, OK, PRUNE, Run
from analyticsd.core.sessions import SESSION_GAP_MS
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.storage.recompute import recompute_day
from analyticsd.storage.spill import SpillStore
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB

log = logging.getLogger(__name__)
CONSUMER = "aggregator"
# Records per batch from the enricher, counted in CHUNKs with a checkpoint
# between them so one chunk of bucket updates holds the event loop ~1 ms at most.
# Up to four batches are decoded at once (the enricher's channel, the one it
# builds, the one counted): 1,000 rather than 5,000 keeps ~10 MB less
# resident (bench/memory.py).
BATCH = 1000
CHUNK = 64
# Visits settled into the rows between two checkpoints before a flush.
SETTLE_CHUNK = 64
GATHER_S = 0.1
# Flush early when this many events wait in memory, whatever the interval.
MAX_PENDING_EVENTS = 100_000
# The smallest chunk a failing flush is cut down to (see core.flush_limit):
# its transaction takes a few hundred KB of disk.
MIN_FLUSH_EVENTS = 1_000
# A flush this large starts on an empty WAL (see _flush_with_retries).
BIG_FLUSH_EVENTS = 10_000
# How often a paused flush (the `aggregator.flush_pause` failpoint) looks again.
PAUSE_POLL_S = 0.05
# Flush early, too, when the aggregator has caught up with the spool and at
# least this many events wait: a busy site sees its numbers about every
# second (flush_interval_s is the most they lag), a quiet one every interval.
CAUGHT_UP_FLUSH_EVENTS = 2_000

FINAL_FLUSH_TIMEOUT_S = 5.0
# Under a memory budget: half of it for unique-visitor marks, half for open
# visits; a flush comes early once open visits pass their share by this much
# (a flush makes them clean, and clean visits can be evicted).
EARLY_FLUSH_VISITS = 1.25
PRUNE_EVERY_MS = 3600_000
# Recompute requests waiting at most (each one day of one site).
MAX_REQUESTS = 64
DAY_MS = 86_400_000


def _split(batch: Batch, room: int) -> tuple[Batch, Batch | None]:
    """At most `room` records of `batch`, and the rest (None if none)."""
    if len(batch.records) <= room:
        return batch, None
    head, tail = batch.records[:room], batch.records[room:]
    return Batch(head, head[-1][0], False), Batch(tail, batch.upto_seq, batch.caught_up)


def _poll(feed: Feed) -> Batch | None:
    try:
        return feed.receive_nowait()
    except trio.WouldBlock:
        return None


@dataclass
class FlushTimer:
    """When the next flush is due: every `interval_s`, and `quiet_s` after
    the feed went quiet while events wait (the end of a burst, or a quiet
    site), so stats trail traffic by about that much instead of a whole
    interval; quiet_s = 0 turns that off. Times are trio's clock."""

    interval_s: float
    quiet_s: float
    now: float
    next_flush: float = 0.0
    quiet_at: float | None = None  # when to flush if the feed stays quiet

    def __post_init__(self) -> None:
        self.next_flush = self.now + self.interval_s

    def due(self, now: float) -> bool:
        return now >= self.next_flush

    def flushed(self, now: float) -> None:
        self.next_flush = now + self.interval_s

    def counted(self) -> None:
        self.quiet_at = None

    def wake_at(self, now: float, waiting: bool) -> float:
        """When to stop waiting for the next batch."""
        if not (waiting and self.quiet_s > 0):
            self.quiet_at = None
        elif self.quiet_at is None:
            self.quiet_at = now + self.quiet_s
        return self.next_flush if self.quiet_at is None else min(self.next_flush, self.quiet_at)

    def idle(self, now: float) -> None:
        """Nothing came until the wake-up: flush now if that was the quiet one."""
        if self.quiet_at is not None and now >= self.quiet_at:
            self.next_flush = now
            self.quiet_at = None


@dataclass
class _Request:
    """A recompute request waiting for the aggregator, and its answer."""

    day: RecomputeDay
    done: trio.Event = field(default_factory=trio.Event)
    result: Recomputed = field(default_factory=lambda: Recomputed(error="not done"))


@dataclass
class AggregatorState:
    """What status and health report; written only by the aggregator."""

    flushed_seq: int = 0
    read_seq: int = 0
    pending_events: int = 0
    open_sessions: int = 0
    last_flush_ms: int | None = None
    flushes: int = 0
    flush_failures: int = 0
    # Why the last flush failed, until one succeeds (a full disk says so).
    store_error: str | None = None
    # The memory budget at work: marks written to disk, visits evicted and
    # read back, and what the aggregation keeps resident (estimated).
    marks_spilled: int = 0
    visits_restored: int = 0
    resident_bytes: int = 0
    recomputed_days: int = 0

    def writes(self) -> int:
        """Commits that changed the rows (flushes and recomputed days): what
        the Stats API's answer cache is valid for."""
        return self.flushes + self.recomputed_days


class Aggregator:
    def __init__(
        self,
        spool: Spool,
        writer: SpoolWriter,
        subscribe: Callable[[int, int, float], Awaitable[Feed]],
        db: StatsDB,
        tz_of: Callable[[], dict[str, str]],
        flush_interval_s: float,
        now_ms: Callable[[], int],
        retention_days: int = 30,
        quiet_flush_s: float = 0.5,
        metrics: Metrics | None = None,
        beat: Callable[[], None] = no_beat,
        memory_mb: int = 0,
        spill: SpillStore | None = None,
        hour_retention_days: int = 0,
        run_log_days: int = 7,
    ) -> None:
        self.spool, self.writer, self.db = spool, writer, db
        # 0: no budget (nothing spilled, no visit evicted for memory).
        self.budget = memory_mb << 20
        self.spill = spill
        self.subscribe = subscribe
        self.tz_of = tz_of
        self.interval = flush_interval_s
        # Flush this long after the spool went quiet while events wait (the
        # end of a burst, or a quiet site), so stats trail traffic by about
        # that much instead of a whole interval; 0 turns it off.
        self.quiet_flush_s = quiet_flush_s
        self.now_ms = now_ms
        self.retention_ms = retention_days * DAY_MS
        self.hour_retention_ms = hour_retention_days * DAY_MS  # 0: hour rows kept
        self.run_log_ms = run_log_days * DAY_MS
        self._counted_run: Run | None = None  # the db's last run, once in the metrics
        self.state = AggregatorState()
        self.metrics = metrics or Metrics()
        self.beat = beat
        self.agg = Aggregation(tz_of=tz_of())
        self.limit = FlushLimit(MAX_PENDING_EVENTS, MIN_FLUSH_EVENTS)
        self._feed: Feed  # subscribed in `run`
        self._last_prune_ms = 0
        self._trimmed_at = -float("inf")
        # Recompute requests (actors.recompute), served between batches; the
        # wait for the next batch is cut short when one comes.
        self._requests: list[_Request] = []
        self._wait_scope: trio.CancelScope | None = None

    async def recompute(self, day: RecomputeDay) -> Recomputed:
        """Have the aggregator rebuild a day between its flushes (why it does
        it: the store's one writer, and its memory reloaded from the result)."""
        if len(self._requests) >= MAX_REQUESTS:
            return Recomputed(error="too many recompute requests waiting; retry")
        req = _Request(day)
        self._requests.append(req)
        if self._wait_scope is not None:
            self._wait_scope.cancel()
        await req.done.wait()
        return req.result

    async def _serve_requests(self) -> None:
        """Flush, rebuild each requested day (one transaction each), then
        reload the committed state so memory agrees with the rebuilt rows."""
        while self._requests:
            req = self._requests.pop(0)
            day = req.day
            try:
                if not await self.try_flush():
                    error = f"the statistics store refuses writes: {self.state.store_error}"
                    req.result = Recomputed(error=error)
                    continue
                try:
                    n = await trio.to_thread.run_sync(
                        recompute_day, self.db, day.site, day.day, day.tz, day.rules
                    )
                    req.result = Recomputed(events=n)
                    self.state.recomputed_days += 1
                except (StatsStoreError, RecomputeRefused) as e:
                    req.result = Recomputed(error=str(e))
                while not await self._rebuild():
                    await sleep_beating(self.interval, self.beat)
            finally:
                req.done.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.spill is not None:  # a spill file of an earlier run holds nothing of ours
            await trio.to_thread.run_sync(self.spill.reset)
        self.agg = await self._committed_aggregation()
        last = self.agg.last_seq
        # After a crash or a stop the spool cursor may lag SQLite (it moves
        # after the flush); catch it up so the spool can free those records.
        if await trio.to_thread.run_sync(self.spool.cursor, CONSUMER) < last:
            await self.writer.submit(Advance(consumer=CONSUMER, seq=last))
        self._feed = await self.subscribe(last, BATCH, GATHER_S)
        task_status.started()
        try:
            await self._loop()
        finally:
            self._feed.close()
            await self._final_flush()

    async def _committed_aggregation(self) -> Aggregation:
        """An aggregation of what SQLite holds: nothing pending, the open
        visits reloaded, resuming after the last sequence it counted."""
        last = await trio.to_thread.run_sync(self.db.last_seq)
        watermark = await trio.to_thread.run_sync(self.db.meta, "watermark_ms") or 0
        agg = Aggregation(tz_of=self.tz_of(), last_seq=last, watermark_ms=watermark)
        book = agg.book
        book.max_open = max(1000, self.budget // 2 // VISIT_BYTES) if self.budget else -1
        since = watermark - SESSION_GAP_MS - SKEW_MS
        sessions = await trio.to_thread.run_sync(self.db.open_sessions, since, book.max_open)
        for s, flushed in sessions:
            agg.restore(s, flushed)
        if len(sessions) == book.max_open:
            # More open visits than the budget holds: the rest are read back
            # when they grow, as if evicted.
            for site, visitor in await trio.to_thread.run_sync(
                self.db.open_session_ids, since, book.max_open
            ):
                book.remember_evicted(site, visitor)
        st = self.state
        st.flushed_seq = st.read_seq = last
        st.pending_events, st.open_sessions = 0, len(agg.book)
        return agg

    async def _rebuild(self) -> bool:
        """Drop what is counted in memory and read it again from the spool,
        after what SQLite committed (as a restart would); False if SQLite
        cannot even be read (then the failed flush is kept and retried)."""
        try:
            agg = await self._committed_aggregation()
        except StatsStoreError as e:
            log.error("cannot reload the committed state, will retry: %s", e)
            return False
        # The new feed first: closing the only feed of a stopping enricher ends it.
        try:
            feed = await self.subscribe(agg.last_seq, BATCH, GATHER_S)
        except ShuttingDown:
            # The enricher is done (a shutdown): so are we. What is not
            # counted waits in the spool for the next start.
            raise trio.EndOfChannel from None
        self._feed.close()
        self._feed, self.agg = feed, agg
        if self.spill is not None:
            await trio.to_thread.run_sync(self.spill.reset)
        return True

    async def _final_flush(self) -> None:
        """Shielded and bounded; skipped while the store refuses flushes: a
        flush already running in its thread cannot be stopped, so a full
        disk would hold the shutdown past its budget. The events wait in the
        spool and are counted after the restart."""
        if self.state.store_error is not None:
            log.warning("final flush skipped, the store is failing: %s", self.state.store_error)
            return
        with trio.CancelScope(shield=True), trio.move_on_after(FINAL_FLUSH_TIMEOUT_S):
            await self.try_flush()

    async def _loop(self) -> None:
        """Count batches as they come; flush every interval, when the feed went
        quiet, or when the flush limit is reached (a batch is split there).
        Returns when the feed ends (shutdown)."""
        timer = FlushTimer(self.interval, self.quiet_flush_s, trio.current_time())
        batch: Batch | None = None
        caught_up = False  # the last batch reached the end of the spool
        try:
            while True:
                if faults.armed("aggregator.stall"):
                    await trio.sleep_forever()  # a stuck actor, for the watchdog drill
                self.beat()
                if batch is None and self._requests:
                    await self._serve_requests()
                    caught_up = False  # the new feed brings what is not counted
                if batch is None:
                    batch = _poll(self._feed)
                rest = None
                if batch is not None:
                    batch, rest = _split(batch, self.limit.room(self.agg.n_events))
                    await self._add(batch)
                    timer.counted()
                    caught_up = batch.caught_up
                # Caught up with a good number waiting: show them now.
                burst_done = caught_up and batch is None
                burst_done = burst_done and self.agg.n_events >= CAUGHT_UP_FLUSH_EVENTS
                if timer.due(trio.current_time()) or burst_done or self._too_many_waiting():
                    if await self._flush_with_retries():
                        rest, caught_up = None, False  # the new feed brings it again
                    timer.flushed(trio.current_time())
                if rest is not None:
                    batch = rest
                else:
                    batch = None if batch is not None else await self._wait(self._feed, timer)
        except trio.EndOfChannel:
            return  # everything counted; `run` does the final flush

    def _too_many_waiting(self) -> bool:
        if self.agg.n_events >= self.limit.value:
            return True
        return (
            bool(self.budget) and len(self.agg.book) > self.agg.book.max_open * EARLY_FLUSH_VISITS
        )

    async def _wait(self, feed: Feed, timer: FlushTimer) -> Batch | None:
        """The next batch, or None at the timer's wake-up (bounded by the
        heartbeat too, so an idle aggregator still beats)."""
        now = trio.current_time()
        wake = timer.wake_at(now, self.agg.n_events > 0 or bool(self.agg.dirty))
        self._wait_scope = trio.CancelScope(deadline=min(wake, now + HEARTBEAT_S))
        with self._wait_scope:
            if self._requests:
                return None  # one came while the batch was counted
            return await feed.receive()
        self._wait_scope = None
        timer.idle(trio.current_time())
        return None

    async def _add(self, batch: Batch) -> None:
        agg = self.agg
        for start in range(0, len(batch.records), CHUNK):
            chunk = batch.records[start : start + CHUNK]
            for site, gran, bucket in agg.marks_needed(r for _, r in chunk):
                # An hour or day not in memory (first event after a start, a
                # new hour, or a late event): its unique visitors so far are
                # recounted from SQLite (nothing to count for a new hour).
                marks, visitors = await trio.to_thread.run_sync(
                    self.db.bucket_recount, site, gran, bucket, agg.tz(site)
                )
                agg.load_marks(site, gran, bucket, marks, visitors)
            await self._read_back(chunk)
            for seq, record in chunk:
                agg.add(seq, record)
            await trio.lowlevel.checkpoint()
        # Unreadable records were skipped: their sequences are counted as done.
        agg.last_seq = max(agg.last_seq, batch.upto_seq)
        self.state.read_seq = batch.upto_seq
        self.state.pending_events = agg.n_events
        await self._keep_budget()

    async def _read_back(self, chunk: list[tuple[int, EnrichedRecord]]) -> None:
        """What the memory budget moved out and these events need: their
        evicted visits (from SQLite) first, then their marks (from the spill
        store), so `add` counts them as if nothing had left memory."""
        agg = self.agg
        wanted = agg.book.to_restore(
            (r.event.site_id, r.visitor, r.prev_visitor) for _, r in chunk if not r.client.bot
        )
        by_site: dict[str, list[str]] = {}
        for site, visitor in wanted:
            by_site.setdefault(site, []).append(visitor)
        since = agg.watermark_ms - SESSION_GAP_MS - SKEW_MS
        for site, visitors in by_site.items():
            found = await trio.to_thread.run_sync(self.db.sessions_of, site, visitors, since)
            for session, flushed in found:
                agg.restore(session, flushed)
                self.state.visits_restored += 1
        if self.spill is None:
            return
        for key, marks in agg.cold_marks(r for _, r in chunk).items():
            agg.load_cold(key, await trio.to_thread.run_sync(self.spill.present, key, marks))

    async def _keep_budget(self) -> None:
        """Over its share of the budget, the marks go to the spill store
        (open visits are evicted at the flush that makes them clean)."""
        agg = self.agg
        if self.budget and self.spill is not None and agg.marks_bytes() > self.budget // 2:
            spilled = agg.marks_to_spill()
            try:
                n = await trio.to_thread.run_sync(self.spill.put, spilled)
            except StatsStoreError as e:
                # Memory grows instead: counts stay right, the budget is
                # exceeded until the disk takes the marks.
                log.error("cannot move unique-visitor marks to disk: %s", e)
            else:
                agg.marks_spilled(spilled)
                self.state.marks_spilled += n
        self.state.resident_bytes = agg.resident_bytes()

    async def _flush_with_retries(self) -> bool:
        """Flush, retrying while SQLite refuses (disk full, I/O error);
        True when the aggregation was rebuilt to flush in smaller chunks.

        A failed flush larger than the floor is not tried again as a whole:
        the aggregation goes back to the committed state and the loop counts
        the next chunk. At the floor, the same flush is retried every
        interval. Meanwhile nothing more is read, so memory stays bounded;
        the events wait in the spool, whose quota pushes back on ingest."""
        while faults.held("aggregator.flush_pause"):
            await sleep_beating(PAUSE_POLL_S, self.beat)  # a test fills the disk meanwhile
        while True:
            n = self.agg.n_events
            if n >= BIG_FLUSH_EVENTS or self.limit.reduced:
                # A flush that may not fit (a big one, or any while recovering
                # from a full disk) starts on an empty WAL: if it fails, the
                # WAL then holds only its pages, and truncating it needs no
                # space (a checkpoint of committed pages would: they go into
                # the database file). Each commit is checkpointed already
                # (statsdb), but that one may have been cut short by a reader
                # or by the full disk itself.
                await self._give_back_wal()
            if await self.try_flush():
                self.limit.succeeded(n)
                return False
            await self._give_back_wal()
            if self.limit.failed(n) and await self._rebuild():
                log.warning("flushing in chunks of at most %d events", self.limit.value)
                return True
            await sleep_beating(self.interval, self.beat)

    def _count_run(self) -> None:
        """The run the last flush logged (or tried to), into /metrics."""
        run = self.db.runs.last
        if run is not None and run is not self._counted_run:
            self._counted_run = run
            self.metrics.count_run(run)

    async def _prune(self, now: int) -> None:
        """The retention prune (per-event rows, visits, logged runs), itself a logged run."""
        started = trio.current_time()
        hours = now - self.hour_retention_ms if self.hour_retention_ms else None
        horizons = (now - self.retention_ms, hours, now - self.run_log_ms)
        try:
            n = await trio.to_thread.run_sync(self.db.prune, *horizons)
            error = ""
        except StatsStoreError as e:
            log.error("pruning old per-event rows failed, will retry: %s", e)
            n, error = 0, str(e)
        ms = round((trio.current_time() - started) * 1000)
        run = Run(now, ms, PRUNE, FAILED if error else OK, rows=n, error=error)
        await trio.to_thread.run_sync(self.db.log_run, run)
        self._count_run()

    async def _give_back_wal(self) -> None:
        """Copy the WAL into the database file and truncate it (SQLite keeps
        a WAL file at its largest size, and a failed transaction's pages in
        it): the space is then free for the next flush."""
        try:
            await trio.to_thread.run_sync(self.db.truncate_wal)
        except StatsStoreError as e:
            log.info("WAL not truncated: %s", e)

    async def try_flush(self) -> bool:
        """Flush; on a SQLite failure log it and report False (the counts stay)."""
        try:
            await self.flush()
        except StatsStoreError as e:
            log.error("flush to SQLite failed, will retry: %s", e)
            self.state.flush_failures += 1
            self.state.store_error = str(e)
            return False
        self.state.store_error = None
        return True

    async def flush(self) -> None:
        agg = self.agg
        if agg.last_seq <= self.state.flushed_seq and not agg.dirty:
            return
        while not agg.settle(SETTLE_CHUNK):
            await trio.lowlevel.checkpoint()
        batch = agg.take()
        now = self.now_ms()
        started = trio.current_time()
        try:
            await trio.to_thread.run_sync(self.db.flush, batch, now)
        except BaseException:
            agg.failed(batch)
            raise
        finally:
            self._count_run()
        self.metrics.flush_duration.observe((), trio.current_time() - started)
        agg.committed(batch)
        if trio.current_time() - self._trimmed_at >= tuning.TRIM_INTERVAL_S:
            self._trimmed_at = trio.current_time()
            await trio.to_thread.run_sync(tuning.trim_heap)
        if agg.dropped_cold and self.spill is not None:
            dropped, agg.dropped_cold = agg.dropped_cold, []
            try:
                await trio.to_thread.run_sync(self.spill.drop, dropped)
            except StatsStoreError as e:
                log.error("cannot delete unique-visitor marks of past buckets: %s", e)
        st = self.state
        st.flushed_seq, st.pending_events = batch.last_seq, agg.n_events
        st.open_sessions = len(agg.book)
        st.last_flush_ms, st.flushes = now, st.flushes + 1
        if now - self._last_prune_ms >= PRUNE_EVERY_MS:
            self._last_prune_ms = now
            await self._prune(now)
        try:
            await self.writer.submit(Advance(consumer=CONSUMER, seq=batch.last_seq))
        except (ShuttingDown, SpoolError) as e:
            # Harmless: the cursor only lets the spool forget counted records
            # sooner; on restart we resume from SQLite's last_seq anyway.
            log.info("spool cursor not moved after flush: %s", e)
