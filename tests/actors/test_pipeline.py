"""Enricher and aggregator over a real spool and SQLite file, on trio's mock clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from analyticsd.actors.aggregator import Aggregator
from analyticsd.actors.enricher import enrich, run_enricher
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.buckets import Deltas
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.core.records import (
    SCHEMA_VERSION,
    RawRecord,
    decode_enriched,
    decode_raw_head,
    encode,
)
from analyticsd.core.visitor import DAY_MS, RecentVisitors, visitor_id
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB, StatsReader

DAY = 20_000
NOON = DAY * DAY_MS + DAY_MS // 2


def event(path: str, ts: int) -> IncomingEvent:
    ev = validate_event({"siteId": "s", "eventType": "pageview", "path": path}, ts)
    assert isinstance(ev, IncomingEvent)
    return ev


def raw(i: int, ts: int, ip: str = "203.0.113.9", ua: str = "UA/1", visitor: str = "v") -> bytes:
    return encode(
        RawRecord(
            v=SCHEMA_VERSION,
            event_id=f"00000000-0000-4000-8000-{i:012d}",
            received_ms=ts,
            ip=ip,
            ua=ua,
            visitor=visitor,
            event=event(f"/p{i % 3}", ts),
        )
    )


class Pipeline:
    def __init__(self, tmp: Path) -> None:
        self.spool = Spool(str(tmp / "spool"), 1 << 24, ("aggregator",))
        self.writer = SpoolWriter(self.spool, lambda: NOON)
        self.salts = SaltBook(str(tmp))
        self.salts.rotate(DAY)
        self.db = StatsDB(str(tmp))
        self.stopping = trio.Event()

    def aggregator(self) -> Aggregator:
        return Aggregator(self.spool, self.writer, self.db, lambda _: "UTC", 5.0, lambda: NOON)

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


async def test_enrichment_drops_ip_and_ua_and_aggregation_counts(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, p.spool, p.writer, p.salts, p.stopping)
        await p.append(30)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 30)  # after one flush interval
        for _, data in p.spool.read_enriched(0, 100):
            record = decode_enriched(data)
            assert record.visitor == "v"
            assert b"203.0.113.9" not in data
            assert b"UA/1" not in data
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
        await nursery.start(run_enricher, p.spool, p.writer, p.salts, p.stopping)
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


@pytest.mark.parametrize(
    ("before_ms", "after_ms", "continues"),
    [
        (-10 * 60_000, 5 * 60_000, True),  # 15 min apart across midnight
        (-10 * 60_000, 25 * 60_000, False),  # 35 min apart: a new visit
        (-40 * 60_000, 10 * 60_000, False),
    ],  # last seen too early to be remembered
)
def test_visit_keeps_its_visitor_across_midnight(
    tmp_path: Path, before_ms: int, after_ms: int, continues: bool
) -> None:
    salts = SaltBook(str(tmp_path))
    salts.rotate(DAY)
    salts.rotate(DAY + 1)
    midnight = (DAY + 1) * DAY_MS
    old_salt, new_salt = salts.get(DAY), salts.get(DAY + 1)
    assert old_salt is not None
    assert new_salt is not None
    old_id = visitor_id(old_salt, "s", "203.0.113.9", "UA/1")
    new_id = visitor_id(new_salt, "s", "203.0.113.9", "UA/1")
    recent = RecentVisitors()
    t1, t2 = midnight + before_ms, midnight + after_ms
    first = enrich(decode_raw_head(raw(1, t1, visitor=old_id)), salts, recent)
    second = enrich(decode_raw_head(raw(2, t2, visitor=new_id)), salts, recent)
    assert first.visitor == old_id
    assert second.visitor == (old_id if continues else new_id)


class FlakyStatsDB(StatsDB):
    """A stats store whose first flushes fail, as on a full disk."""

    def __init__(self, data_dir: str, failures: int) -> None:
        super().__init__(data_dir)
        self.failures = failures

    def flush(self, deltas: Deltas, now_ms: int) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StatsStoreError("database or disk is full")
        super().flush(deltas, now_ms)


async def test_failed_flushes_are_retried_and_nothing_is_lost(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    p.db = FlakyStatsDB(str(tmp_path), failures=3)
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await nursery.start(p.writer.run)
        await nursery.start(agg.run)
        await nursery.start(run_enricher, p.spool, p.writer, p.salts, p.stopping)
        await p.append(12)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 12)
        assert agg.state.flush_failures == 3
        # The spool kept every record until the flush finally succeeded.
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert day.pageviews == 12
