"""The forwarder: enriched records (from the enricher) → the canonical Redis stream.

Takes batches of enriched records past its own durable spool cursor, XADDs them in
pipelined batches and moves the cursor only after Redis acknowledged the
batch, so a record leaves the spool only once it is in the stream (the spool
keeps a record until the aggregator *and* the forwarder are past it). A crash
between the XADD and the cursor move sends the batch again: delivery is
at-least-once and the hub dedupes by event_id (SPEC §7).

While the store is unreachable nothing is taken; events wait in the spool,
whose quota makes the receiver answer 503 rather than lose one. Probes
back off exponentially with jitter (core.link); on recovery the backlog
drains at most `max_events_per_s`, so live ingest and the aggregator keep
their share of the one core. Redis calls run in worker threads: the
forwarder never blocks the receiver or the aggregator.

Loss detection (the stream is a transport, not the store; the hub's
database is). Redis can lose entries it acknowledged: restarted without
persistence, `appendfsync everysec` losing its last second, a failover to a
replica that lagged, a flush. Two things together make that visible and
repairable:

* Every append is a compare-and-set on this edge's *mark* in Redis
  (`<stream>:sent`, origin → the last spool sequence appended), done in the
  same script (or MULTI) as the XADDs. Redis persists and loses the mark
  exactly as it does the entries written with it: if entries are lost, the
  mark goes back with them (or vanishes; a mark whose stream key is gone,
  deleted or evicted, counts as none). The edge knows the mark it wrote
  last, so the very next append finds a mark below it and is refused, before
  anything new lands behind a hole; an idle edge reads the mark every
  `probe_interval_s`. Why not the stream's length or `entries-added`: both
  move with every edge's appends and with trimming, so a loss can be hidden
  by others' traffic; a per-origin mark cannot.
* The hub confirms back, per origin, the highest sequence it has committed
  in its own database (`<stream>:confirmed`), after the commit. Records stay
  in this spool (the `forward-confirmed` cursor) until confirmed, for at
  most `retain_unconfirmed_s`, and never while they would push the spool
  past half its quota (retention must not cause 503s). Appends into one
  stream are in sequence order and, after a loss, start again at the first
  unconfirmed record, so "highest committed" is also "everything below".

On a loss the forwarder logs an error, counts it in status and /metrics,
moves its cursor back to the last confirmed record and forwards everything
after it again; the hub's eventId dedupe keeps the count exactly-once. What
Redis loses of the records let go unconfirmed (past the window, or for a
filling spool) cannot be sent again; the loss report names their range.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from analyticsd.actors.enricher import Batch, Feed
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import sleep_beating
from analyticsd.core import faults, stream_entry
from analyticsd.core.config import ForwardConfig
from analyticsd.core.errors import CanonicalStoreError, ShuttingDown, SpoolError
from analyticsd.core.heartbeat import HEARTBEAT_S, no_beat
from analyticsd.core.link import Link, LinkState, Outcome, Pacer, backoff_s
from analyticsd.core.messages import Advance
from analyticsd.core.spool_record import received_ms_of
from analyticsd.storage.canonical import StreamProducer
from analyticsd.storage.spool import Spool

log = logging.getLogger(__name__)
CONSUMER = "forwarder"
# The spool cursor of the records the hub has confirmed (or let go).
CONFIRMED = "forward-confirmed"
# Retained records give way when the spool is fuller than this share.
RETAIN_SHARE = 0.5
# Wait this long for new records before going back to the spool anyway.
GATHER_S = 0.05
# Spool reads (of ~1024 records) per upkeep when releasing by age.
RELEASE_READS = 64


@dataclass
class ForwarderState:
    """What status reports; written only by the forwarder."""

    link: Link = field(default_factory=Link)
    cursor: int = 0
    forwarded: int = 0
    origin: str = ""
    confirmed: int = 0  # spool sequence up to which the hub confirmed (or released)
    losses: int = 0  # times the stream was found to have lost our entries
    last_loss_ms: int | None = None
    last_loss: str = ""


class Forwarder:
    def __init__(
        self,
        spool: Spool,
        writer: SpoolWriter,
        subscribe: Callable[[int, int, float], Awaitable[Feed]],
        cfg: ForwardConfig,
        origin: str,
        now_ms: Callable[[], int],
        rand: Callable[[], float] = random.random,
        beat: Callable[[], None] = no_beat,
    ) -> None:
        self.spool, self.writer, self.cfg = spool, writer, cfg
        self.subscribe = subscribe
        self.now_ms, self.rand, self.beat = now_ms, rand, beat
        self._next_probe = 0.0
        self.state = ForwarderState(origin=origin)
        self._producer: StreamProducer | None = None
        # The mark this edge last wrote in the stream (see the docstring).
        self._mark = 0
        self._rewound = False
        self._next_upkeep = 0.0
        self._hub_confirmed = 0  # as last read from Redis

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        st = self.state
        st.cursor = await trio.to_thread.run_sync(self.spool.cursor, CONSUMER)
        st.confirmed = min(await trio.to_thread.run_sync(self.spool.cursor, CONFIRMED), st.cursor)
        self._mark = st.cursor  # written with the batch, before the cursor moved
        st.link.since_ms = self.now_ms()
        cfg = self.cfg
        self._producer = StreamProducer(cfg.redis_url, cfg.stream, cfg.timeout_s, st.origin)
        feed = await self.subscribe(st.cursor, cfg.batch_size, GATHER_S)
        task_status.started()
        try:
            while True:
                async with feed:
                    await self._loop(self._producer, feed)
                # A loss was found: forward again from the last confirmed record.
                try:
                    feed = await self.subscribe(st.cursor, cfg.batch_size, GATHER_S)
                except ShuttingDown:
                    return  # the next start finds the mark short again
        finally:
            self._producer.close()

    async def _loop(self, producer: StreamProducer, feed: Feed) -> None:
        """Forward from `feed` until a loss makes the forwarder rewind."""
        link = self.state.link
        pacer = Pacer(self.cfg.max_events_per_s, trio.current_time())
        self._next_probe = trio.current_time() + self.cfg.probe_interval_s
        batch: Batch | None = None  # kept until the stream has it
        self._rewound = False
        while not self._rewound:
            self.beat()
            if link.state is not LinkState.HEALTHY and not await self._probe(producer):
                await sleep_beating(self._retry_delay(), self.beat)
                continue
            if trio.current_time() >= self._next_upkeep:
                await self._upkeep(producer)
                continue
            if batch is None:
                batch = await self._next_batch(producer, feed)
                if batch is None:
                    continue
            wait = pacer.wait_s(len(batch.records), trio.current_time())
            if wait > 0:
                await sleep_beating(wait, self.beat)
            if not await self._send(producer, batch):
                continue
            faults.hit("forward.after_send")
            try:
                await self.writer.submit(Advance(consumer=CONSUMER, seq=batch.upto_seq))
            except ShuttingDown:
                return
            except SpoolError as e:
                # The batch is in the stream; it is sent again after a
                # restart, and the hub dedupes it. Nothing is lost either way.
                log.error("forwarder cursor not moved: %s", e)
            self.state.cursor = batch.upto_seq
            batch = None

    async def _next_batch(self, producer: StreamProducer, feed: Feed) -> Batch | None:
        """The next batch; None after an idle wait, during which the store is
        probed every interval so status tells the truth when no traffic comes."""
        due = min(self._next_probe, self._next_upkeep)
        wait = min(HEARTBEAT_S, max(due - trio.current_time(), 0.0))
        with trio.move_on_after(wait):
            try:
                return await feed.receive()
            except trio.EndOfChannel:
                await trio.sleep_forever()  # shutting down: the daemon cancels us
        if trio.current_time() >= self._next_probe:
            await self._probe(producer)
        return None

    async def _send(self, producer: StreamProducer, batch: Batch) -> bool:
        entries = [(*stream_entry.encode(record), seq) for seq, record in batch.records]
        try:
            # Even with no entries (unreadable records): the mark must cover the cursor.
            done = await trio.to_thread.run_sync(
                producer.append, entries, self._mark, batch.upto_seq, abandon_on_cancel=True
            )
        except CanonicalStoreError as e:
            self._record(Outcome.SEND_FAILED, str(e))
            return False
        self._record(Outcome.SEND_OK)
        if done.lost:
            await self._repair(done.mark)
            return False
        self._mark = batch.upto_seq
        self.state.forwarded += done.added
        return True

    async def _upkeep(self, producer: StreamProducer) -> None:
        """Every probe interval: the loss check for an idle edge, the hub's
        confirmation, and the retention window."""
        self._next_upkeep = trio.current_time() + self.cfg.probe_interval_s
        try:
            mark, hub_confirmed = await trio.to_thread.run_sync(
                producer.progress, abandon_on_cancel=True
            )
        except CanonicalStoreError as e:
            self._record(Outcome.SEND_FAILED, str(e))
            return
        if mark < self._mark:
            await self._repair(mark)
            return
        st = self.state
        self._hub_confirmed = max(self._hub_confirmed, hub_confirmed)  # lost with Redis, too
        upto = max(st.confirmed, min(hub_confirmed, st.cursor))
        upto = max(upto, await trio.to_thread.run_sync(self._releasable, upto))
        if upto > st.confirmed:
            await self._advance(CONFIRMED, upto)
            st.confirmed = upto

    def _releasable(self, confirmed: int) -> int:
        """Up to where forwarded records may go unconfirmed: all of them when
        retention is off or the spool is filling, else those older than the
        window (a blocking spool read, in a worker thread)."""
        cursor, window_s = self.state.cursor, self.cfg.retain_unconfirmed_s
        stats = self.spool.stats()
        if window_s <= 0 or stats.size_bytes > RETAIN_SHARE * stats.quota_bytes:
            return cursor
        cutoff = self.now_ms() - int(window_s * 1000)
        pos = confirmed
        for _ in range(RELEASE_READS):
            rows = self.spool.read(pos, 1024).rows
            for seq, data in rows:
                received = received_ms_of(data)
                if seq > cursor or (received is not None and received >= cutoff):
                    return pos
                pos = seq
            if not rows:
                break
        return pos

    async def _repair(self, found: int) -> None:
        """The stream holds our records only up to `found` while we had
        appended up to our mark: forward again from the last confirmed one."""
        st = self.state
        st.losses += 1
        st.last_loss_ms = self.now_ms()
        st.last_loss = (
            f"the stream lost entries: it holds this edge's records up to {found}, "
            f"{self._mark} had been appended; forwarding again from {st.confirmed + 1}"
        )
        if self._hub_confirmed < st.confirmed:
            st.last_loss += (
                f"; records {self._hub_confirmed + 1} to {st.confirmed} had been let go "
                "unconfirmed (retain_unconfirmed_s or a filling spool): those lost are lost"
            )
        log.error("canonical store LOSS detected: %s", st.last_loss)
        self._mark = found
        st.cursor = st.confirmed
        await self._advance(CONSUMER, st.cursor)
        self._rewound = True

    async def _advance(self, consumer: str, seq: int) -> None:
        try:
            await self.writer.submit(Advance(consumer=consumer, seq=seq))
        except SpoolError as e:  # ShuttingDown included: the next start redoes it
            log.warning("forwarder cursor %s not moved: %s", consumer, e)

    async def _probe(self, producer: StreamProducer) -> bool:
        self._next_probe = trio.current_time() + self.cfg.probe_interval_s
        try:
            await trio.to_thread.run_sync(producer.ping, abandon_on_cancel=True)
        except CanonicalStoreError as e:
            self._record(Outcome.PROBE_FAILED, str(e))
            return False
        if self.state.link.state is not LinkState.HEALTHY:
            await self._check_durability(producer)
        self._record(Outcome.PROBE_OK)
        return True

    async def _check_durability(self, producer: StreamProducer) -> None:
        """Say once per (re)connection when Redis could lose what we send."""
        try:
            warnings = await trio.to_thread.run_sync(
                producer.durability_warnings, abandon_on_cancel=True
            )
        except CanonicalStoreError as e:
            log.info("could not read Redis persistence settings: %s", e)
            return
        for warning in warnings:
            log.warning("%s", warning)

    def _record(self, outcome: Outcome, error: str = "") -> None:
        link = self.state.link
        was = link.state
        if not link.on(outcome, self.now_ms(), error):
            return
        if link.state is LinkState.UNREACHABLE:
            log.warning(
                "canonical store unreachable, events wait in the spool: %s", link.last_error
            )
        elif was is LinkState.UNREACHABLE:
            log.info("canonical store reachable again; forwarding the backlog")
        else:
            log.info("canonical store reachable; forwarding to stream %s", self.cfg.stream)

    def _retry_delay(self) -> float:
        cfg = self.cfg
        return backoff_s(
            self.state.link.failures, cfg.probe_interval_s, cfg.max_backoff_s, self.rand()
        )
