from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analyticsd.core.errors import SpoolFull
from analyticsd.core.messages import Advance, Append, Enrich, PendingRecord
from analyticsd.storage.spool import DEDUPE_WINDOW_MS, ENRICH_RESERVE, ENRICHER, Spool

NOW = 1_800_000_000_000


def rec(data: bytes = b"x" * 100, event_id: str | None = None) -> PendingRecord:
    return PendingRecord(event_id or str(uuid.uuid4()), data)


def spool(tmp_path: Path, quota: int = 1 << 20, **kw: int) -> Spool:
    return Spool(str(tmp_path / "spool"), quota, ("aggregator",), **kw)  # type: ignore[arg-type]


def test_append_assigns_monotonic_sequences_that_survive_reopen(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"a"), rec(b"b")]), Append([rec(b"c")])], NOW)
    assert [seq for seq, _ in s.read_raw(0, 10)] == [1, 2, 3]
    assert [d for _, d in s.read_raw(1, 10)] == [b"b", b"c"]
    s.close()
    s = spool(tmp_path)
    s.write([Append([rec(b"d")])], NOW)
    assert [seq for seq, _ in s.read_raw(0, 10)] == [1, 2, 3, 4]
    assert s.stats().size_bytes == 4


def test_the_sequence_can_be_raised_never_lowered_and_it_survives_reopen(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"a")])], NOW)
    assert s.raise_next_seq(1000)
    assert not s.raise_next_seq(10)  # never lowered
    s.write([Append([rec(b"b")])], NOW)
    s.close()
    s = spool(tmp_path)
    s.write([Append([rec(b"c")])], NOW)
    assert [seq for seq, _ in s.read_raw(0, 10)] == [1, 1000, 1001]
    assert not s.raise_next_seq(1002)  # already there


def test_repeated_event_id_is_stored_once(tmp_path: Path) -> None:
    s = spool(tmp_path)
    eid = str(uuid.uuid4())
    first, same_batch, later = (
        Append([rec(event_id=eid)]),
        Append([rec(event_id=eid)]),
        Append([rec(event_id=eid), rec()]),
    )
    s.write([first, same_batch], NOW)
    s.write([later], NOW + 1000)
    assert first.stored == [True]
    assert same_batch.stored == [False]
    assert later.stored == [False, True]
    assert len(s.read_raw(0, 10)) == 2


def test_dedupe_window_expires(tmp_path: Path) -> None:
    s = spool(tmp_path)
    eid = str(uuid.uuid4())
    s.write([Append([rec(event_id=eid)])], NOW)
    inside = Append([rec(event_id=eid)])
    s.write([inside], NOW + DEDUPE_WINDOW_MS - 1)
    assert inside.stored == [False]
    s.write([], NOW + DEDUPE_WINDOW_MS + 1)  # any transaction prunes the index
    outside = Append([rec(event_id=eid)])
    s.write([outside], NOW + DEDUPE_WINDOW_MS + 2)
    assert outside.stored == [True]


def test_quota_refuses_whole_requests(tmp_path: Path) -> None:
    # Two records of 2000 bytes plus the room kept for their enrichment.
    s = spool(tmp_path, quota=4000 + 2 * ENRICH_RESERVE)
    fits = Append([rec(b"x" * 2000), rec(b"x" * 2000)])
    too_much = Append([rec(b"x" * 50), rec(b"x" * 50)])
    s.write([fits, too_much], NOW)
    assert fits.error is None
    assert isinstance(too_much.error, SpoolFull)
    assert too_much.stored == []
    assert s.stats().size_bytes == 4000
    assert len(s.read_raw(0, 10)) == 2


def test_enrich_replaces_raw_and_consumers_free_space(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"r" * 100) for _ in range(5)])], NOW)
    s.write([Enrich(items=[(1, b"e" * 40), (2, b"e" * 40), (3, None)], upto_seq=3)], NOW)
    assert [seq for seq, _ in s.read_raw(0, 10)] == [4, 5]
    assert s.read_enriched(0, 10) == [(1, b"e" * 40), (2, b"e" * 40)]
    assert s.cursor(ENRICHER) == 3
    assert s.stats().size_bytes == 280
    # Replaying the same enrichment (a crash before the caller heard back) is harmless.
    s.write([Enrich(items=[(1, b"e" * 40)], upto_seq=3)], NOW)
    assert s.stats().size_bytes == 280
    s.write([Advance("aggregator", 1)], NOW)
    assert s.read_enriched(0, 10) == [(2, b"e" * 40)]
    assert s.stats().size_bytes == 240
    st = s.stats()
    assert (st.raw_events, st.enriched_events, st.cursors["aggregator"]) == (2, 1, 1)


def test_map_full_is_spool_full_and_other_ops_still_commit(tmp_path: Path) -> None:
    s = spool(tmp_path, quota=1 << 30, map_size=256 * 1024)
    s.write([Append([rec(b"r" * 100)])], NOW)
    overflow = Append([rec(b"x" * 4000) for _ in range(200)])
    s.write([overflow, Enrich(items=[(1, b"e")], upto_seq=1)], NOW)
    assert isinstance(overflow.error, SpoolFull)
    assert "map is full" in str(overflow.error)
    assert s.read_enriched(0, 10) == [(1, b"e")]


def test_readonly_view(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"abc")])], NOW)
    s.close()
    ro = Spool(str(tmp_path / "spool"), 1 << 20, ("aggregator",), readonly=True)
    st = ro.stats()
    assert (st.raw_events, st.next_seq, st.oldest_record) == (1, 2, b"abc")
    ro.close()


@pytest.mark.parametrize("n", [1, 1000])
def test_many_records_one_transaction(tmp_path: Path, n: int) -> None:
    s = spool(tmp_path)
    s.write([Append([rec() for _ in range(n)])], NOW)
    assert len(s.read_raw(0, 5000)) == n


def test_room_is_kept_for_enrichment(tmp_path: Path) -> None:
    s = spool(tmp_path, quota=3 * (100 + ENRICH_RESERVE))
    s.write([Append([rec(b"r" * 100) for _ in range(3)])], NOW)
    late = Append([rec(b"r" * 10)])
    s.write([late], NOW)
    assert isinstance(late.error, SpoolFull)  # the room belongs to the three raw records
    grown = b"e" * (100 + ENRICH_RESERVE)
    s.write([Enrich(items=[(1, grown), (2, grown), (3, grown)], upto_seq=3)], NOW)
    assert s.stats().size_bytes <= 3 * (100 + ENRICH_RESERVE)
