"""Enricher and aggregator over a real spool and SQLite file, on trio's mock clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trio
import trio.testing

from analyticsd.actors.aggregator import Aggregator
from analyticsd.actors.enricher import run_enricher
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.aggregate import FlushBatch
from analyticsd.core.enrich import rules_for
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.geo import NO_GEO
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.core.records import (
    SCHEMA_VERSION,
    RawRecord,
    RawRecordV1,
    decode_enriched,
    encode,
)
from analyticsd.core.useragent import UAClassifier
from analyticsd.core.visitor import DAY_MS
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB, StatsReader
from tests.core.records_fixture import DESKTOP

DAY = 20_000
NOON = DAY * DAY_MS + DAY_MS // 2


def event(path: str, ts: int) -> IncomingEvent:
    ev = validate_event({"siteId": "s", "eventType": "pageview", "path": path}, ts)
    assert isinstance(ev, IncomingEvent)
    return ev


def raw(i: int, ts: int, visitor: str = "00000000000000a1") -> bytes:
    return encode(
        RawRecord(
            v=SCHEMA_VERSION,
            event_id=f"00000000-0000-4000-8000-{i:012d}",
            received_ms=ts,
            visitor=visitor,
            prev_visitor="",
            client=DESKTOP,
            geo=NO_GEO,
            lang="",
            event=event(f"/p{i % 3}", ts),
        )
    )


_classifier = UAClassifier()


def facts(ip: str, ua: str) -> tuple[object, object]:
    return _classifier.classify(ua), NO_GEO


class Pipeline:
    def __init__(self, tmp: Path) -> None:
        self.spool = Spool(str(tmp / "spool"), 1 << 24, ("aggregator",))
        self.writer = SpoolWriter(self.spool, lambda: NOON)
        self.db = StatsDB(str(tmp))
        self.stopping = trio.Event()
        rules = rules_for([])
        self.enricher_args = (self.spool, self.writer, lambda: rules, facts, self.stopping)

    def aggregator(self, now_ms: Callable[[], int] = lambda: NOON, **kw: int) -> Aggregator:
        return Aggregator(self.spool, self.writer, self.db, lambda: {"s": "UTC"}, 5.0, now_ms, **kw)

    async def append(self, n: int, start: int = 0) -> None:
        await self.writer.submit(
            Append(
                [
                    PendingRecord(f"id{i}", raw(i, NOON), indexed=False)
                    for i in range(start, start + n)
                ]
            )
        )


async def wait_for(writer: SpoolWriter, predicate: Callable[[], bool]) -> None:
    # Every flush is followed by a spool commit (the cursor move): wake on those.
    while not predicate():
        await writer.committed.wait()


async def test_enrichment_and_aggregation_count(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, *p.enricher_args)
        await p.append(30)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 30)  # after one flush interval
        for _, data in p.spool.read_enriched(0, 100):
            record = decode_enriched(data)
            assert record.visitor == "00000000000000a1"
            assert record.source.channel == "direct"
        assert p.spool.read_raw(0, 100) == []
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert (day.pageviews, day.visitors) == (30, 1)
    assert day.top_paths == [("/p0", 10), ("/p1", 10), ("/p2", 10)]


async def test_restart_resumes_after_the_flushed_sequence(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(run_enricher, *p.enricher_args)
        first = p.aggregator()
        async with trio.open_nursery() as inner:
            await inner.start(first.run)
            await p.append(10)
            await wait_for(p.writer, lambda: first.state.flushed_seq == 10)
            inner.cancel_scope.cancel()
        # The spool still holds the records up to the cursor only: a second
        # aggregator must start after seq 10 and count only what is new.
        second = p.aggregator()
        async with trio.open_nursery() as inner:
            await inner.start(second.run)
            assert second.state.flushed_seq == 10
            await p.append(5, start=10)
            await wait_for(p.writer, lambda: second.state.flushed_seq == 15)
            inner.cancel_scope.cancel()
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert day.pageviews == 15


async def test_version_1_raw_records_are_upgraded(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A spool written before enrichment existed (raw records held IP and UA)."""
    p = Pipeline(tmp_path)
    old = RawRecordV1(
        v=1,
        event_id="00000000-0000-4000-8000-000000000001",
        received_ms=NOON,
        ip="203.0.113.9",
        ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
        visitor="00000000000000a1",
        event=event("/old", NOON),
    )
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, *p.enricher_args)
        await p.writer.submit(Append([PendingRecord("old", encode(old), indexed=False)]))
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 1)
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert (day.pageviews, day.top_paths) == (1, [("/old", 1)])


class FlakyStatsDB(StatsDB):
    """A stats store whose first flushes fail, as on a full disk."""

    def __init__(self, data_dir: str, failures: int) -> None:
        super().__init__(data_dir)
        self.failures = failures

    def flush(self, batch: FlushBatch, now_ms: int) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StatsStoreError("database or disk is full")
        super().flush(batch, now_ms)


async def test_failed_flushes_are_retried_and_nothing_is_lost(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    p.db = FlakyStatsDB(str(tmp_path), failures=3)
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, *p.enricher_args)
        await p.append(12)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 12)
        assert agg.state.flush_failures == 3
        # The spool kept every record until the flush finally succeeded.
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert (day.pageviews, day.visitors) == (12, 1)


async def test_retention_prunes_per_event_rows_on_an_injected_clock_and_frees_pages(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    now = [NOON]
    agg = p.aggregator(lambda: now[0], retention_days=30)
    later = NOON + 31 * DAY_MS

    def pages() -> tuple[int, int]:
        c = p.db.conn
        return c.execute("PRAGMA page_count").fetchone()[0], c.execute(
            "PRAGMA freelist_count"
        ).fetchone()[0]

    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, *p.enricher_args)
        await p.append(3000)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 3000)
        before, _ = pages()
        now[0] = later  # a month on: the next flush prunes
        await p.writer.submit(
            Append([PendingRecord("late1", raw(9999, later, "00000000000000b2"), indexed=False)])
        )
        # The spool cursor moves after the flush and its prune are done.
        await wait_for(p.writer, lambda: p.spool.cursor("aggregator") == 3001)
        nursery.cancel_scope.cancel()
    rows = p.db.conn.execute("SELECT count(*), min(ts) FROM events").fetchone()
    assert rows == (1, later)  # only the new event's row is left
    after, free = pages()
    assert free == 0  # freed pages went back to the file system...
    assert after < before  # ...so the file shrank
    old = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert old is not None
    assert old.pageviews == 3000  # aggregates are kept; only per-event detail expires
