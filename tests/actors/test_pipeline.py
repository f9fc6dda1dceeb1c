"""Enricher and aggregator over a real spool and SQLite file, on trio's mock clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trio
import trio.testing

from analyticsd.actors.aggregator import Aggregator
from analyticsd.actors.enricher import Enricher
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.aggregate import FlushBatch
from analyticsd.core.errors import StatsStoreError
from analyticsd.core.geo import NO_GEO
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.core.spool_record import Record, encode
from analyticsd.core.visitor import DAY_MS
from analyticsd.storage.spill import SpillStore
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB, StatsReader
from tests.core.records_fixture import DESKTOP

DAY = 20_000
NOON = DAY * DAY_MS + DAY_MS // 2


def event(path: str, ts: int) -> IncomingEvent:
    ev = validate_event({"siteId": "s", "eventType": "pageview", "path": path}, ts)
    assert isinstance(ev, IncomingEvent)
    return ev


def stored(i: int, ts: int, visitor: str = "00000000000000a1") -> bytes:
    return encode(
        Record(
            event_id=f"00000000-0000-4000-8000-{i:012d}",
            received_ms=ts,
            visitor=visitor,
            prev_visitor="",
            client=DESKTOP,
            geo=NO_GEO,
            lang="",
            source=None,
            goals=(),
            event=event(f"/p{i % 3}", ts),
        )
    )


class Pipeline:
    def __init__(self, tmp: Path) -> None:
        self.spool = Spool(str(tmp / "spool"), 1 << 24, ("aggregator",))
        self.writer = SpoolWriter(self.spool, lambda: NOON)
        self.db = StatsDB(str(tmp))
        self.enricher = Enricher(self.spool, self.writer)

    def aggregator(self, now_ms: Callable[[], int] = lambda: NOON, **kw: int) -> Aggregator:
        return Aggregator(
            self.spool,
            self.writer,
            self.enricher.subscribe,
            self.db,
            lambda: {"s": "UTC"},
            5.0,
            now_ms,
            **kw,
        )

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.writer.run)
        await nursery.start(self.enricher.run)

    async def append(self, n: int, start: int = 0) -> None:
        await self.writer.submit(
            Append(
                [
                    PendingRecord(f"id{i}", stored(i, NOON), indexed=False)
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
        await p.start(nursery)
        await nursery.start(agg.run)
        await p.append(30)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 30)  # after one flush interval
        # Counted from the one record each event has in the spool, which the
        # flush's cursor move then lets the spool delete.
        assert p.spool.read(0, 100).rows == []
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
        await p.start(nursery)
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
        await p.start(nursery)
        await nursery.start(agg.run)
        await p.append(12)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 12)
        assert agg.state.flush_failures == 3
        # The spool kept every record until the flush finally succeeded.
        nursery.cancel_scope.cancel()
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert (day.pageviews, day.visitors) == (12, 1)


async def poll_until(predicate: Callable[[], bool], agg: Aggregator) -> None:
    """Until `predicate` holds; fails once flushes have failed too often
    (the same flush retried forever), as a hang would not. On the mock
    clock, whose time jumps while threads work: no real time is waited."""
    while not predicate():
        assert agg.state.flush_failures < 50, "flushes keep failing"
        await trio.sleep(1)


class TightStatsDB(StatsDB):
    """A stats store on a disk with room for flushes of `room` events only:
    larger ones fail as SQLite does when its WAL cannot grow."""

    def __init__(self, data_dir: str, room: int) -> None:
        super().__init__(data_dir)
        self.room = room
        self.committed: list[int] = []  # events per committed flush
        self.truncations = 0

    def flush(self, batch: FlushBatch, now_ms: int) -> None:
        if batch.n_events > self.room:
            raise StatsStoreError("flush failed: database or disk is full")
        super().flush(batch, now_ms)
        self.committed.append(batch.n_events)

    def truncate_wal(self) -> None:
        self.truncations += 1
        super().truncate_wal()


async def test_a_backlog_too_big_for_the_disk_is_flushed_in_chunks_exactly_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    p.db = db = TightStatsDB(str(tmp_path), room=1_500)
    agg = p.aggregator()
    n, visitors = 12_000, 7
    async with trio.open_nursery() as nursery:
        await p.start(nursery)
        await p.writer.submit(
            Append(
                [
                    PendingRecord(f"id{i}", stored(i, NOON, f"{i % visitors + 1:016x}"), False)
                    for i in range(n)
                ]
            )
        )
        await nursery.start(agg.run)
        await poll_until(lambda: p.spool.cursor("aggregator") == n, agg)
        nursery.cancel_scope.cancel()
    # The whole backlog failed, then went in chunks no larger than the room.
    assert agg.state.flush_failures >= 1
    assert sum(db.committed) == n
    assert max(db.committed) <= 1_500
    assert db.truncations >= 1  # the failed flush's WAL pages were given back
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    # Counted once each: events, and visits and visitors across the rebuilds.
    assert (day.pageviews, day.visitors, day.visits) == (n, visitors, visitors)
    assert db.conn.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone() == (
        n,
        n,
    )
    assert db.conn.execute("SELECT count(*) FROM sessions").fetchone() == (visitors,)


async def test_chunked_retries_under_a_memory_budget_count_visitors_exactly(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # The memory budget at work (marks moved to the spill store, which a
    # rebuild empties as a start does) while flushes go in chunks.
    p = Pipeline(tmp_path)
    # Here flushes come every batch (1,024 records: the spool's group), as
    # the budget's reads and writes in threads let the clock jump to the
    # flush timer: room for a little less fails them, and the chunks of
    # the retry (1,000, the least) fit.
    p.db = db = TightStatsDB(str(tmp_path), room=1_010)
    spill = SpillStore(str(tmp_path))
    agg = p.aggregator(memory_mb=1, spill=spill)  # type: ignore[arg-type]
    n, visitors = 12_000, 4_000
    async with trio.open_nursery() as nursery:
        await p.start(nursery)
        await p.writer.submit(
            Append(
                [
                    PendingRecord(f"id{i}", stored(i, NOON, f"{i % visitors + 1:016x}"), False)
                    for i in range(n)
                ]
            )
        )
        await nursery.start(agg.run)
        await poll_until(lambda: p.spool.cursor("aggregator") == n, agg)
        nursery.cancel_scope.cancel()
    assert agg.state.flush_failures >= 1
    assert agg.state.marks_spilled > 0  # the budget was at work
    assert max(db.committed) <= 1_010
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert (day.pageviews, day.visitors, day.visits) == (n, visitors, visitors)


async def test_flushes_grow_back_once_the_disk_has_room(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    p = Pipeline(tmp_path)
    p.db = db = TightStatsDB(str(tmp_path), room=1_500)
    agg = p.aggregator()
    async with trio.open_nursery() as nursery:
        await p.start(nursery)
        await nursery.start(agg.run)
        await p.append(6_000)
        limits: list[int] = []  # the limit at every flush's cursor move

        def seen() -> bool:
            limits.append(agg.limit.value)
            return agg.state.flushed_seq == 6_000

        await wait_for(p.writer, seen)
        shrunk = min(limits)
        db.room = 1 << 30  # space freed
        await p.append(40_000, start=6_000)
        await poll_until(lambda: agg.state.flushed_seq == 46_000, agg)
        nursery.cancel_scope.cancel()
    assert shrunk <= 1_500
    assert agg.limit.value > 2 * shrunk
    assert max(db.committed) > 1_500
    day = StatsReader(str(tmp_path)).day_stats("s", "2024-10-04")
    assert day is not None
    assert day.pageviews == 46_000


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
        await p.start(nursery)
        await nursery.start(agg.run)
        await p.append(3000)
        await wait_for(p.writer, lambda: agg.state.flushed_seq == 3000)
        before, _ = pages()
        now[0] = later  # a month on: the next flush prunes
        await p.writer.submit(
            Append([PendingRecord("late1", stored(9999, later, "00000000000000b2"), indexed=False)])
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
