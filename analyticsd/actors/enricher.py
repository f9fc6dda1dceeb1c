"""The enricher: raw spool records → privacy-safe enriched records.

Reads raw records past its durable cursor, keeps the visitor id stable across
midnight (current and previous salt both tried), drops the IP and user agent,
and hands the results to the spool writer, which replaces the raw records in
the same transaction that moves the cursor. A record that cannot be decoded is
dropped with a log line; it never stops the actor.
"""

from __future__ import annotations

import logging

import msgspec
import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import wait_any
from analyticsd.core.errors import ShuttingDown
from analyticsd.core.messages import Enrich
from analyticsd.core.records import (
    SCHEMA_VERSION,
    EnrichedHead,
    RawHead,
    decode_event,
    decode_raw_head,
    encode,
)
from analyticsd.core.visitor import (
    DAY_MS,
    SESSION_GAP_MS,
    RecentVisitors,
    salt_day,
    visitor_id,
)
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.spool import ENRICHER, Spool

log = logging.getLogger(__name__)
# Small enough that one batch holds the event loop for well under a
# millisecond, so acks waiting behind it are not delayed.
# Records read per spool read; they are enriched in CHUNKs with a checkpoint
# between chunks, so one chunk holds the event loop well under a millisecond
# and acks waiting behind it are not delayed, while one commit covers a lot.
BATCH = 2048
CHUNK = 256
GATHER_S = 0.05


def enrich(raw: RawHead, salts: SaltBook, recent: RecentVisitors) -> EnrichedHead:
    day = salt_day(raw.received_ms)
    into_day = raw.received_ms - day * DAY_MS
    visitor = raw.visitor
    # Only the half hours around midnight matter for carrying a visit over;
    # the rest of the day skips the second hash, the bookkeeping and even
    # decoding the event (it is copied through as encoded bytes).
    if into_day <= SESSION_GAP_MS:
        prev_salt = salts.get(day - 1)
        site_id = decode_event(raw.event).site_id
        previous = visitor_id(prev_salt, site_id, raw.ip, raw.ua) if prev_salt else None
        visitor = recent.resolve(raw.visitor, previous, raw.received_ms)
    elif into_day >= DAY_MS - SESSION_GAP_MS:
        visitor = recent.resolve(raw.visitor, None, raw.received_ms)
    return EnrichedHead(
        v=SCHEMA_VERSION,
        event_id=raw.event_id,
        received_ms=raw.received_ms,
        visitor=visitor,
        event=raw.event,
    )


def enrich_batch(
    rows: list[tuple[int, bytes]], salts: SaltBook, recent: RecentVisitors
) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    for seq, data in rows:
        try:
            record = decode_raw_head(data)
            enriched = encode(enrich(record, salts, recent))
        except msgspec.DecodeError as e:
            log.error("spool record %d is unreadable and is dropped: %s", seq, e)
            out.append((seq, None))
            continue
        out.append((seq, enriched))
    return out


async def run_enricher(
    spool: Spool,
    writer: SpoolWriter,
    salts: SaltBook,
    stopping: trio.Event,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Enrich until cancelled, or until `stopping` is set and nothing is left."""
    pos = await trio.to_thread.run_sync(spool.cursor, ENRICHER)
    recent = RecentVisitors()
    task_status.started()
    while True:
        new_data = writer.committed  # taken before reading, so no wake-up is missed
        rows = await trio.to_thread.run_sync(spool.read_raw, pos, BATCH)
        if not rows:
            if stopping.is_set():
                return  # drained for a clean shutdown
            await wait_any(new_data, stopping)
            if not stopping.is_set():
                # Let records gather: one enrichment per GATHER_S instead of
                # one per commit keeps most spool commits small (fewer dirty
                # pages to fsync, so faster acks) and costs fewer thread hops.
                await trio.sleep(GATHER_S)
            continue
        items: list[tuple[int, bytes | None]] = []
        for start in range(0, len(rows), CHUNK):
            items += enrich_batch(rows[start : start + CHUNK], salts, recent)
            await trio.lowlevel.checkpoint()
        try:
            await writer.submit(Enrich(items=items, upto_seq=rows[-1][0]))
        except ShuttingDown:
            return  # the raw records stay; enrichment resumes after restart
        pos = rows[-1][0]
