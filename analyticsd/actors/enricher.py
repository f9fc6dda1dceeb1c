"""The enricher: raw spool records → enriched records (source, goals).

Reads raw records past its durable cursor, enriches them (pure, see
core.enrich) and hands the results to the spool writer, which replaces the raw
records in the same transaction that moves the cursor. A record that cannot be
decoded is dropped with a log line; it never stops the actor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import msgspec
import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.actors.waiting import wait_any
from analyticsd.core.enrich import SiteRules, enrich, enrich_head
from analyticsd.core.errors import ShuttingDown
from analyticsd.core.geo import GeoInfo
from analyticsd.core.heartbeat import HEARTBEAT_S, no_beat
from analyticsd.core.messages import Enrich
from analyticsd.core.records import (
    SCHEMA_VERSION,
    RawRecord,
    RawRecordV1,
    decode_raw_head,
    decode_view,
    encode,
    is_enriched,
)
from analyticsd.core.useragent import ClientInfo
from analyticsd.storage.spool import ENRICHER, Spool

log = logging.getLogger(__name__)
# Records read per spool read; they are enriched in CHUNKs with a checkpoint
# between chunks, so one chunk holds the event loop well under a millisecond
# and acks waiting behind it are not delayed, while one commit covers a lot.
BATCH = 2048
CHUNK = 256
GATHER_S = 0.05

# (ip, user agent) → client facts; used only for records of schema version 1.
ClientFacts = Callable[[str, str], tuple[ClientInfo, GeoInfo]]


def upgrade(old: RawRecordV1, facts: ClientFacts) -> RawRecord:
    """A version 1 raw record (it held IP and UA) in today's shape."""
    client, geo = facts(old.ip, old.ua)
    return RawRecord(
        v=SCHEMA_VERSION,
        event_id=old.event_id,
        received_ms=old.received_ms,
        visitor=old.visitor,
        prev_visitor="",
        client=client,
        geo=geo,
        lang="",
        event=old.event,
    )


def enrich_batch(
    rows: list[tuple[int, bytes]], rules: Mapping[str, SiteRules], facts: ClientFacts
) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    for seq, data in rows:
        if is_enriched(data):  # consumed by a hub from the stream: done already
            out.append((seq, data))
            continue
        try:
            head = decode_raw_head(data)
            if isinstance(head, RawRecordV1):
                raw = upgrade(head, facts)
                out.append((seq, encode(enrich(raw, rules.get(raw.event.site_id)))))
                continue
            view = decode_view(head.event)
        except msgspec.DecodeError as e:
            log.error("spool record %d is unreadable and is dropped: %s", seq, e)
            out.append((seq, None))
            continue
        out.append((seq, encode(enrich_head(head, view, rules.get(view.site_id)))))
    return out


async def run_enricher(
    spool: Spool,
    writer: SpoolWriter,
    rules: Callable[[], Mapping[str, SiteRules]],
    facts: ClientFacts,
    stopping: trio.Event,
    *,
    beat: Callable[[], None] = no_beat,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Enrich until cancelled, or until `stopping` is set and nothing is left."""
    pos = await trio.to_thread.run_sync(spool.cursor, ENRICHER)
    task_status.started()
    while True:
        beat()
        new_data = writer.committed  # taken before reading, so no wake-up is missed
        rows = await trio.to_thread.run_sync(spool.read_raw, pos, BATCH)
        if not rows:
            if stopping.is_set():
                return  # drained for a clean shutdown
            with trio.move_on_after(HEARTBEAT_S) as idle:
                await wait_any(new_data, stopping)
            if idle.cancelled_caught:
                continue  # nothing new: beat and look again
            if not stopping.is_set():
                # Let records gather: one enrichment per GATHER_S instead of
                # one per commit keeps most spool commits small (fewer dirty
                # pages to fsync, so faster acks) and costs fewer thread hops.
                await trio.sleep(GATHER_S)
            continue
        items: list[tuple[int, bytes | None]] = []
        current = rules()  # the site rules in force (they change on reload)
        for start in range(0, len(rows), CHUNK):
            items += enrich_batch(rows[start : start + CHUNK], current, facts)
            await trio.lowlevel.checkpoint()
        try:
            await writer.submit(Enrich(items=items, upto_seq=rows[-1][0]))
        except ShuttingDown:
            return  # the raw records stay; enrichment resumes after restart
        pos = rows[-1][0]
