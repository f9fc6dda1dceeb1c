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
from analyticsd.storage.canonical import StreamProducer
from analyticsd.storage.spool import Spool

log = logging.getLogger(__name__)
CONSUMER = "forwarder"
# Wait this long for new records before going back to the spool anyway.
GATHER_S = 0.05


@dataclass
class ForwarderState:
    """What status reports; written only by the forwarder."""

    link: Link = field(default_factory=Link)
    cursor: int = 0
    forwarded: int = 0


class Forwarder:
    def __init__(
        self,
        spool: Spool,
        writer: SpoolWriter,
        subscribe: Callable[[int, int, float], Awaitable[Feed]],
        cfg: ForwardConfig,
        now_ms: Callable[[], int],
        rand: Callable[[], float] = random.random,
        beat: Callable[[], None] = no_beat,
    ) -> None:
        self.spool, self.writer, self.cfg = spool, writer, cfg
        self.subscribe = subscribe
        self.now_ms, self.rand, self.beat = now_ms, rand, beat
        self._next_probe = 0.0
        self.state = ForwarderState()
        self._producer: StreamProducer | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.state.cursor = await trio.to_thread.run_sync(self.spool.cursor, CONSUMER)
        self.state.link.since_ms = self.now_ms()
        cfg = self.cfg
        self._producer = StreamProducer(cfg.redis_url, cfg.stream, cfg.timeout_s)
        feed = await self.subscribe(self.state.cursor, cfg.batch_size, GATHER_S)
        task_status.started()
        try:
            async with feed:
                await self._loop(self._producer, feed)
        finally:
            self._producer.close()

    async def _loop(self, producer: StreamProducer, feed: Feed) -> None:
        link = self.state.link
        pacer = Pacer(self.cfg.max_events_per_s, trio.current_time())
        self._next_probe = trio.current_time() + self.cfg.probe_interval_s
        batch: Batch | None = None  # kept until the stream has it
        while True:
            self.beat()
            if link.state is not LinkState.HEALTHY and not await self._probe(producer):
                await sleep_beating(self._retry_delay(), self.beat)
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
        wait = min(HEARTBEAT_S, max(self._next_probe - trio.current_time(), 0.0))
        with trio.move_on_after(wait):
            try:
                return await feed.receive()
            except trio.EndOfChannel:
                await trio.sleep_forever()  # shutting down: the daemon cancels us
        if trio.current_time() >= self._next_probe:
            await self._probe(producer)
        return None

    async def _send(self, producer: StreamProducer, batch: Batch) -> bool:
        entries = [stream_entry.encode(record) for _, record in batch.records]
        try:
            if entries:
                await trio.to_thread.run_sync(producer.append, entries, abandon_on_cancel=True)
        except CanonicalStoreError as e:
            self._record(Outcome.SEND_FAILED, str(e))
            return False
        self._record(Outcome.SEND_OK)
        self.state.forwarded += len(entries)
        return True

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
