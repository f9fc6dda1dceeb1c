"""The enricher: spool records → enriched records, handed to each consumer.

It writes nothing. A consumer (the aggregator, the forwarder) subscribes with
the last sequence it has durably dealt with; a feed task then reads the
spool past it, enriches each record (pure, core.enrich) with the rule set the
spool assigns to the record's sequence, and sends batches over a bounded
channel. So:

* the receiver's append stays the only durable write an event needs;
* every consumer, also after a restart or a reload of goals, gets the same
  source and goals for a record (a reload applies to the records numbered
  after its commit; records already spooled keep the rules they came under);
* a slow consumer (the forwarder while Redis is down) holds up only its own
  feed: the channel is bounded, so memory is too, and the records wait in
  the spool behind that consumer's cursor.

A record that cannot be decoded is skipped with a log line (its sequence is
still covered by the batch, so cursors move past it); it never stops a feed.
A feed ends when its consumer closes the channel, or, once `stopping` is
set, when it has handed over everything in the spool (a clean shutdown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import wait_any
from analyticsd.core.enrich import RuleBook, enrich
from analyticsd.core.errors import ShuttingDown
from analyticsd.core.heartbeat import HEARTBEAT_S, no_beat
from analyticsd.core.spool_record import EnrichedRecord, decode
from analyticsd.storage.spool import Spool, SpoolRead

log = logging.getLogger(__name__)
# Records enriched between two checkpoints: one chunk holds the event loop
# well under a millisecond, so acks waiting behind it are not delayed.
CHUNK = 256
# Batches in flight per consumer: one being consumed, one ready.
DEPTH = 2


@dataclass(frozen=True)
class Batch:
    records: list[tuple[int, EnrichedRecord]]
    # Every sequence up to here is in this batch or an earlier one
    # (unreadable records are left out but covered).
    upto_seq: int
    # The read reached the end of the spool: the consumer has caught up
    # (an empty channel alone does not say so; the next read may be running).
    caught_up: bool


Feed = trio.MemoryReceiveChannel[Batch]


def enrich_rows(rows: list[tuple[int, bytes]], book: RuleBook) -> list[tuple[int, EnrichedRecord]]:
    out: list[tuple[int, EnrichedRecord]] = []
    for seq, data in rows:
        try:
            record = decode(data)
        except msgspec.DecodeError as e:
            log.error("spool record %d is unreadable and is skipped: %s", seq, e)
            continue
        out.append((seq, enrich(record, book.for_seq(seq))))
    return out


class Enricher:
    def __init__(self, spool: Spool, writer: SpoolWriter, beat: Callable[[], None] = no_beat):
        self.spool, self.writer, self.beat = spool, writer, beat
        self.book = RuleBook()
        # Set on shutdown: feeds hand over what is left, then end.
        self.stopping = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self.stopping.wait()  # the nursery then waits for the feeds to drain
        self._nursery = None

    async def subscribe(self, after_seq: int, batch_size: int, gather_s: float) -> Feed:
        """Batches of enriched records numbered above `after_seq`. `gather_s`:
        how long to let records gather after new ones arrived (fewer, larger
        batches for a consumer that does not need each one at once)."""
        if self._nursery is None:
            raise ShuttingDown("the enricher has stopped: no more records are handed out")
        send, receive = trio.open_memory_channel[Batch](DEPTH)
        await self._nursery.start(self._feed, after_seq, batch_size, gather_s, send)
        return receive

    async def _feed(
        self,
        pos: int,
        batch_size: int,
        gather_s: float,
        send: trio.MemorySendChannel[Batch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        async with send:
            while send.statistics().open_receive_channels:
                self.beat()
                new_data = self.writer.committed  # taken before reading: no wake-up is missed
                read = await trio.to_thread.run_sync(self.spool.read, pos, batch_size)
                if read.rows:
                    if not await self._hand_over(read, len(read.rows) < batch_size, send):
                        return
                    pos = read.rows[-1][0]
                elif self.stopping.is_set():
                    return  # drained for a clean shutdown
                else:
                    await self._wait_for_records(new_data, gather_s)

    async def _hand_over(
        self, read: SpoolRead, caught_up: bool, send: trio.MemorySendChannel[Batch]
    ) -> bool:
        """Enrich and send one read; False once the consumer has gone."""
        self.book.update(read.rule_sets)
        records: list[tuple[int, EnrichedRecord]] = []
        for start in range(0, len(read.rows), CHUNK):
            records += enrich_rows(read.rows[start : start + CHUNK], self.book)
            await trio.lowlevel.checkpoint()
        batch = Batch(records, read.rows[-1][0], caught_up)
        while True:  # a consumer may hold its batch for long (an outage): keep beating
            self.beat()
            with trio.move_on_after(HEARTBEAT_S):
                try:
                    await send.send(batch)
                except trio.BrokenResourceError:
                    return False
                return True

    async def _wait_for_records(self, new_data: trio.Event, gather_s: float) -> None:
        with trio.move_on_after(HEARTBEAT_S) as idle:
            await wait_any(new_data, self.stopping)
        if not idle.cancelled_caught and not self.stopping.is_set():
            # One read per gather_s instead of one per commit costs fewer
            # thread hops and hands consumers fuller batches.
            await trio.sleep(gather_s)
