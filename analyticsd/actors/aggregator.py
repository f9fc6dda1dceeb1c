"""The aggregator: enriched spool records → in-memory buckets → SQLite.

Exactly-once: a flush writes the deltas and the last spool sequence they cover
in one SQLite transaction; on start we resume right after that sequence. The
spool cursor is moved only after the flush committed, so the spool never
forgets a record SQLite has not counted. The final flush on shutdown is
shielded from cancellation and bounded in time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import wait_any
from analyticsd.core.buckets import Deltas
from analyticsd.core.errors import ShuttingDown, SpoolError, StatsStoreError
from analyticsd.core.messages import Advance
from analyticsd.core.records import decode_enriched
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB

log = logging.getLogger(__name__)
CONSUMER = "aggregator"
# Records per spool read, counted in CHUNKs with a checkpoint between them so
# one chunk of bucket updates holds the event loop ~1 ms at most.
BATCH = 5000
CHUNK = 500
GATHER_S = 0.1
# Flush early when this many events wait in memory, whatever the interval.
MAX_PENDING_EVENTS = 100_000
FINAL_FLUSH_TIMEOUT_S = 5.0


@dataclass
class AggregatorState:
    """What status and health report; written only by the aggregator."""

    flushed_seq: int = 0
    read_seq: int = 0
    pending_events: int = 0
    last_flush_ms: int | None = None
    flushes: int = 0
    flush_failures: int = 0


class Aggregator:
    def __init__(
        self,
        spool: Spool,
        writer: SpoolWriter,
        db: StatsDB,
        tz_of: Callable[[str], str],
        flush_interval_s: float,
        now_ms: Callable[[], int],
    ) -> None:
        self.spool, self.writer, self.db = spool, writer, db
        self.tz_of = tz_of
        self.interval = flush_interval_s
        self.now_ms = now_ms
        self.state = AggregatorState()
        self._deltas = Deltas(last_seq=0)
        # Set when no more enriched records will come (shutdown): the
        # aggregator then reads what is left, flushes and returns.
        self.upstream_done = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        last = await trio.to_thread.run_sync(self.db.last_seq)
        self._deltas = Deltas(last_seq=last)
        self.state.flushed_seq = self.state.read_seq = last
        # After a crash or a stop the spool cursor may lag SQLite (it moves
        # after the flush); catch it up so the spool can free those records.
        if await trio.to_thread.run_sync(self.spool.cursor, CONSUMER) < last:
            await self.writer.submit(Advance(consumer=CONSUMER, seq=last))
        task_status.started()
        try:
            await self._loop()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(FINAL_FLUSH_TIMEOUT_S):
                await self.try_flush()

    async def _loop(self) -> None:
        next_flush = trio.current_time() + self.interval
        while True:
            new_data = self.writer.committed
            rows = await trio.to_thread.run_sync(
                self.spool.read_enriched, self.state.read_seq, BATCH
            )
            for start in range(0, len(rows), CHUNK):
                self._add(rows[start : start + CHUNK])
                await trio.lowlevel.checkpoint()
            due = trio.current_time() >= next_flush
            if due or self._deltas.n_events >= MAX_PENDING_EVENTS:
                await self._flush_with_retries()
                next_flush = trio.current_time() + self.interval
            if not rows:
                if self.upstream_done.is_set():
                    return  # everything counted; `run` does the final flush
                with trio.move_on_at(next_flush):
                    await wait_any(new_data, self.upstream_done)
                    if not self.upstream_done.is_set():
                        # Counting is only visible at the next flush anyway,
                        # so read in chunks, not after every spool commit.
                        await trio.sleep(GATHER_S)

    def _add(self, rows: list[tuple[int, bytes]]) -> None:
        for seq, data in rows:
            try:
                record = decode_enriched(data)
            except msgspec.DecodeError as e:
                log.error("enriched record %d is unreadable and is skipped: %s", seq, e)
                self._deltas.last_seq = max(self._deltas.last_seq, seq)
            else:
                self._deltas.add(seq, record, self.tz_of(record.event.site_id))
            self.state.read_seq = seq
        self.state.pending_events = self._deltas.n_events

    async def _flush_with_retries(self) -> None:
        """Flush, retrying every interval while SQLite refuses (disk full, I/O
        error). Meanwhile nothing more is read, so memory stays bounded; the
        events wait in the spool, whose quota pushes back on ingest."""
        while True:
            if await self.try_flush():
                return
            await trio.sleep(self.interval)

    async def try_flush(self) -> bool:
        """Flush; on a SQLite failure log it and report False (the deltas stay)."""
        try:
            await self.flush()
        except StatsStoreError as e:
            log.error("flush to SQLite failed, will retry: %s", e)
            self.state.flush_failures += 1
            return False
        return True

    async def flush(self) -> None:
        deltas = self._deltas
        if deltas.last_seq <= self.state.flushed_seq:
            return
        now = self.now_ms()
        await trio.to_thread.run_sync(self.db.flush, deltas, now)
        self._deltas = Deltas(last_seq=deltas.last_seq)
        st = self.state
        st.flushed_seq, st.pending_events = deltas.last_seq, 0
        st.last_flush_ms, st.flushes = now, st.flushes + 1
        try:
            await self.writer.submit(Advance(consumer=CONSUMER, seq=deltas.last_seq))
        except (ShuttingDown, SpoolError) as e:
            # Harmless: the cursor only lets the spool forget counted records
            # sooner; on restart we resume from SQLite's last_seq anyway.
            log.info("spool cursor not moved after flush: %s", e)
