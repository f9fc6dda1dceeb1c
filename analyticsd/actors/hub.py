"""The hub consumer: the canonical Redis stream → this daemon's own spool.

Every edge forwards into one stream; the hub reads it through a consumer
group. An entry is acknowledged (XACK) only after the record it carries is
committed and fsynced in the hub's spool, whose eventId index dedupes across
edges and redeliveries; from there the hub's enricher (which keeps the
source and goals the edge found) and aggregator count it like a local beacon.

Recovery:
* on start, the entries this consumer was given and never acknowledged
  (a crash mid-batch) are read again first;
* entries idle longer than `claim_idle_s` in any consumer are claimed
  (XAUTOCLAIM) and tried again;
* an entry that cannot be used (invalid JSON, unknown site, ...) is left
  pending; once it has been delivered `max_deliveries` times it moves to the
  dead-letter stream with the reason, and consuming goes on.
While the spool is full nothing is acknowledged: entries wait in Redis.

Throughput: reading and checking batch N+1 overlaps the commit (one fsync)
of batch N: a reader task hands decoded batches to the committer over a
channel of one, so the disk and the CPU work at the same time (`make bench`
compares the consume rate with that of a reference revision).

The stream is a transport, not the store (README "Stream sizing"): after a
commit the hub tells each edge the last sequence of its it holds (the edge
may then drop those records; forwarder.py says why that is safe), and
trims the stream (XTRIM MINID) below the oldest entry any consumer group
still needs and never within `trim_keep_s` of now.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import sleep_beating
from analyticsd.core import faults, stream_entry
from analyticsd.core.config import HubConfig
from analyticsd.core.errors import CanonicalStoreError, ShuttingDown, SpoolError, WireError
from analyticsd.core.heartbeat import no_beat
from analyticsd.core.link import Link, LinkState, Outcome, backoff_s
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.core.spool_record import encode, stored_form
from analyticsd.storage.canonical import Entry, Fields, StreamConsumer

log = logging.getLogger(__name__)
T = TypeVar("T")
# How long one XREADGROUP waits for new entries.
BLOCK_MS = 1000
SPOOL_RETRY_S = 1.0
OWN_PENDING_START = b"0"
# How often the group's lag is read for status and /metrics.
LAG_EVERY_S = 1.0
# How often acknowledged entries are trimmed from the stream.
TRIM_EVERY_S = 1.0


@dataclass
class HubState:
    """What status reports; written only by the hub consumer."""

    link: Link = field(default_factory=Link)
    consumed: int = 0  # new events stored
    duplicates: int = 0  # entries whose event_id was already stored
    dead_lettered: int = 0
    claimed: int = 0
    trimmed: int = 0  # entries removed from the stream
    lag: int | None = None  # entries not yet delivered to the group
    pending: int = 0  # delivered, not yet acknowledged
    lag_read_ms: int | None = None  # when lag and pending were read


@dataclass
class Decoded:
    records: list[PendingRecord]
    done_ids: list[bytes]  # stored (or nothing to store): acknowledge
    failed: list[tuple[bytes, Fields, str]]  # (entry id, fields, reason)
    # origin → its highest sequence among the records to store: confirmed
    # back to the edge once they are committed.
    upto: dict[str, int] = field(default_factory=dict)


def decode_entries(entries: list[Entry], sites: frozenset[str]) -> Decoded:
    out = Decoded([], [], [])
    for entry_id, fields in entries:
        if fields is None:  # deleted from the stream while pending
            out.done_ids.append(entry_id)
            continue
        try:
            rec = stream_entry.decode(fields, sites)
        except WireError as e:
            out.failed.append((entry_id, fields, str(e)))
            continue
        out.records.append(PendingRecord(rec.event_id, encode(stored_form(rec)), True))
        out.done_ids.append(entry_id)
        tag = stream_entry.origin_of(fields)
        if tag is not None and tag[1] > out.upto.get(tag[0], -1):
            out.upto[tag[0]] = tag[1]
    return out


class Hub:
    def __init__(
        self,
        writer: SpoolWriter,
        cfg: HubConfig,
        consumer_name: str,
        sites: Callable[[], frozenset[str]],
        now_ms: Callable[[], int],
        rand: Callable[[], float] = random.random,
        beat: Callable[[], None] = no_beat,
    ) -> None:
        self.writer, self.cfg, self.consumer_name = writer, cfg, consumer_name
        self.sites, self.now_ms, self.rand, self.beat = sites, now_ms, rand, beat
        self.state = HubState()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.cfg
        self.state.link.since_ms = self.now_ms()
        consumer = StreamConsumer(
            cfg.redis_url,
            cfg.stream,
            cfg.group,
            self.consumer_name,
            cfg.dead_letters,
            cfg.timeout_s,
        )
        task_status.started()
        try:
            await self._loop(consumer)
        finally:
            consumer.close()

    async def _loop(self, consumer: StreamConsumer) -> None:
        # A channel of one: batch N+1 is read and checked while N commits.
        send, receive = trio.open_memory_channel[Decoded](1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop, consumer, send)
            await self._commit_loop(consumer, receive)
            nursery.cancel_scope.cancel()  # shutting down: the rest stays pending

    async def _read_loop(
        self, consumer: StreamConsumer, send: trio.MemorySendChannel[Decoded]
    ) -> None:
        link = self.state.link
        # Our own pending entries are walked once from the start (`0`), each
        # read continuing after the last id seen, so an entry that fails is
        # not re-read at once (its retries come from claiming, claim_idle_s
        # apart); None = read new entries.
        pending_after: bytes | None = OWN_PENDING_START
        claim_every = max(self.cfg.claim_idle_s / 2, 0.05)
        next_claim = trio.current_time() + claim_every
        next_lag = trio.current_time()
        while True:
            self.beat()
            try:
                if link.state is not LinkState.HEALTHY:
                    await self._thread(consumer.ensure_group)
                    self._record(Outcome.PROBE_OK)
                    pending_after = OWN_PENDING_START  # what was in flight comes back
                if trio.current_time() >= next_lag:
                    await self._read_lag(consumer)
                    next_lag = trio.current_time() + LAG_EVERY_S
                if trio.current_time() >= next_claim:
                    await self._claim(consumer, send)
                    next_claim = trio.current_time() + claim_every
                block = min(BLOCK_MS, int(claim_every * 1000), int(LAG_EVERY_S * 1000))
                entries = await self._thread(
                    consumer.read, pending_after, self.cfg.batch_size, block
                )
                if pending_after is not None:
                    pending_after = entries[-1][0] if entries else None
                    if not entries:
                        continue
                await self._hand_over(entries, send)
            except CanonicalStoreError as e:
                await self._failed(e)

    def _link_failed(self, e: CanonicalStoreError) -> None:
        healthy = self.state.link.state is LinkState.HEALTHY
        self._record(Outcome.SEND_FAILED if healthy else Outcome.PROBE_FAILED, str(e))

    async def _failed(self, e: CanonicalStoreError) -> None:
        link = self.state.link
        self._link_failed(e)
        delay = backoff_s(link.failures, 0.5, self.cfg.max_backoff_s, self.rand())
        await sleep_beating(delay, self.beat)

    async def _read_lag(self, consumer: StreamConsumer) -> None:
        lag = await self._thread(consumer.lag)
        self.state.lag, self.state.pending = lag.lag, lag.pending
        self.state.lag_read_ms = self.now_ms()

    async def _hand_over(self, entries: list[Entry], send: trio.MemorySendChannel[Decoded]) -> None:
        if entries:
            decoded = await trio.to_thread.run_sync(decode_entries, entries, self.sites())
            await send.send(decoded)

    async def _claim(self, consumer: StreamConsumer, send: trio.MemorySendChannel[Decoded]) -> None:
        start = b"0-0"
        idle_ms = int(self.cfg.claim_idle_s * 1000)
        while True:
            claimed = await self._thread(consumer.claim, idle_ms, start, self.cfg.batch_size)
            if claimed.entries:
                self.state.claimed += len(claimed.entries)
                await self._hand_over(claimed.entries, send)
            if claimed.next_start in (b"0-0", b"0"):
                return
            start = claimed.next_start

    async def _commit_loop(
        self, consumer: StreamConsumer, receive: trio.MemoryReceiveChannel[Decoded]
    ) -> None:
        """Store, acknowledge, confirm; trim every TRIM_EVERY_S, idle or not
        (what was within trim_keep_s at the last batch must go too)."""
        next_trim = trio.current_time()
        while True:
            decoded: Decoded | None = None
            with trio.move_on_at(next_trim if self.cfg.trim else math.inf):
                decoded = await receive.receive()
            try:
                if decoded is not None and not await self._commit(consumer, decoded):
                    return
                if self.cfg.trim and trio.current_time() >= next_trim:
                    next_trim = trio.current_time() + TRIM_EVERY_S
                    if self.state.link.state is LinkState.HEALTHY:
                        keep_ms = int(self.cfg.trim_keep_s * 1000)
                        self.state.trimmed += await self._thread(consumer.trim, keep_ms)
            except CanonicalStoreError as e:
                # Unacknowledged entries come back to the reader once Redis
                # does (own pending, then claiming); the spool dedupes them.
                self._link_failed(e)

    async def _commit(self, consumer: StreamConsumer, decoded: Decoded) -> bool:
        """One batch: store, then acknowledge and confirm; False when stopping."""
        if not await self._store(decoded):
            return False
        faults.hit("hub.before_ack")
        await self._thread(consumer.ack_and_confirm, decoded.done_ids, decoded.upto)
        for entry_id, fields, reason in decoded.failed:
            await self._fail(consumer, entry_id, fields, reason)
        return True

    async def _store(self, decoded: Decoded) -> bool:
        """Commit the batch's records; False when the daemon is stopping."""
        if not decoded.records:
            return True
        op = Append(decoded.records)
        while True:
            try:
                await self.writer.submit(op)
                break
            except ShuttingDown:
                return False
            except SpoolError as e:
                # Full, or a failed commit: nothing is acknowledged, the
                # entries wait in Redis, and we try again.
                log.warning("hub cannot store entries yet, consuming paused: %s", e)
                await sleep_beating(SPOOL_RETRY_S, self.beat)
                op = Append(decoded.records)
        new = sum(op.stored)
        self.state.consumed += new
        self.state.duplicates += len(op.stored) - new
        return True

    async def _fail(
        self, consumer: StreamConsumer, entry_id: bytes, fields: Fields, why: str
    ) -> None:
        n = await self._thread(consumer.deliveries, entry_id)
        if n >= self.cfg.max_deliveries:
            await self._thread(consumer.dead_letter, entry_id, fields, why, n)
            self.state.dead_lettered += 1
            log.error(
                "stream entry %s moved to %s after %d deliveries: %s",
                entry_id.decode(),
                self.cfg.dead_letters,
                n,
                why,
            )
        elif n:
            log.warning(
                "stream entry %s unusable (delivery %d of %d): %s",
                entry_id.decode(),
                n,
                self.cfg.max_deliveries,
                why,
            )

    async def _thread(self, fn: Callable[..., T], *args: object) -> T:
        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    def _record(self, outcome: Outcome, error: str = "") -> None:
        link = self.state.link
        if link.on(outcome, self.now_ms(), error):
            if link.state is LinkState.UNREACHABLE:
                log.warning("canonical store unreachable, hub waits: %s", link.last_error)
            else:
                log.info("hub consuming %s as group %s", self.cfg.stream, self.cfg.group)
