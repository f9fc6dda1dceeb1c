from __future__ import annotations

import uuid
from pathlib import Path

import lmdb
import pytest

from analyticsd.core.errors import SpoolError, SpoolFull
from analyticsd.core.messages import Advance, Append, PendingRecord, PublishRules
from analyticsd.storage.spool import DEDUPE_WINDOW_MS, FRAMING, GROUP_RECORDS, Spool

NOW = 1_800_000_000_000


def rec(data: bytes = b"x" * 100, event_id: str | None = None) -> PendingRecord:
    return PendingRecord(event_id or str(uuid.uuid4()), data)


def seqs(s: Spool, after: int, limit: int) -> list[int]:
    return [seq for seq, _ in s.read(after, limit).rows]


def spool(tmp_path: Path, quota: int = 1 << 20, **kw: int) -> Spool:
    return Spool(str(tmp_path / "spool"), quota, ("aggregator",), **kw)  # type: ignore[arg-type]


def test_append_assigns_monotonic_sequences_that_survive_reopen(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"a"), rec(b"b")]), Append([rec(b"c")])], NOW)
    assert seqs(s, 0, 10) == [1, 2, 3]
    assert [d for _, d in s.read(1, 10).rows] == [b"b", b"c"]
    s.close()
    s = spool(tmp_path)
    s.write([Append([rec(b"d")])], NOW)
    assert seqs(s, 0, 10) == [1, 2, 3, 4]
    # Two groups: [a, b, c] and [d], each a msgpack array of bins.
    assert s.stats().size_bytes == (1 + 3 * 3) + (1 + 3)
    assert s.stats().events == 4


def test_the_sequence_can_be_raised_never_lowered_and_it_survives_reopen(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"a")])], NOW)
    assert s.raise_next_seq(1000)
    assert not s.raise_next_seq(10)  # never lowered
    s.write([Append([rec(b"b")])], NOW)
    s.close()
    s = spool(tmp_path)
    s.write([Append([rec(b"c")])], NOW)
    assert seqs(s, 0, 10) == [1, 1000, 1001]
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
    assert len(s.read(0, 10).rows) == 2


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
    s = spool(tmp_path, quota=2 * (2000 + FRAMING))
    fits = Append([rec(b"x" * 2000), rec(b"x" * 2000)])
    too_much = Append([rec(b"x" * 50), rec(b"x" * 50)])
    s.write([fits, too_much], NOW)
    assert fits.error is None
    assert isinstance(too_much.error, SpoolFull)
    assert too_much.stored == []
    assert s.stats().size_bytes == 1 + 2 * (3 + 2000)
    assert len(s.read(0, 10).rows) == 2


def test_records_are_deleted_once_every_consumer_is_past_them(tmp_path: Path) -> None:
    s = Spool(str(tmp_path / "spool"), 1 << 20, ("aggregator", "forwarder"))
    for _ in range(5):  # five transactions: five groups of one record
        s.write([Append([rec(b"r" * 100)])], NOW)
    s.write([Advance("aggregator", 3)], NOW)
    assert seqs(s, 0, 10) == [1, 2, 3, 4, 5]  # the forwarder still needs them
    s.write([Advance("forwarder", 2)], NOW)
    assert seqs(s, 0, 10) == [3, 4, 5]
    st = s.stats()
    assert (st.events, st.size_bytes, st.cursors) == (
        3,
        3 * (1 + 2 + 100),  # array header, bin header, record
        {"aggregator": 3, "forwarder": 2},
    )


def test_a_group_is_deleted_once_every_record_in_it_is_consumed(tmp_path: Path) -> None:
    s = spool(tmp_path)
    n = GROUP_RECORDS + 10  # one transaction: two groups
    s.write([Append([rec(i.to_bytes(2, "big")) for i in range(n)])], NOW)
    assert seqs(s, 0, 5 * n) == list(range(1, n + 1))
    # A read starts inside a group and stops at the end of the group that
    # reached its limit.
    assert seqs(s, GROUP_RECORDS - 2, 2) == [GROUP_RECORDS - 1, GROUP_RECORDS]
    assert seqs(s, GROUP_RECORDS - 2, 3) == list(range(GROUP_RECORDS - 1, n + 1))
    first_of_second = (GROUP_RECORDS + 1, GROUP_RECORDS.to_bytes(2, "big"))
    assert s.read(GROUP_RECORDS, 1).rows[0] == first_of_second
    assert s.first_after(5) == (5).to_bytes(2, "big")
    s.write([Advance("aggregator", GROUP_RECORDS - 1)], NOW)
    assert s.stats().events == n  # the first group still holds one record not consumed
    s.write([Advance("aggregator", GROUP_RECORDS)], NOW)
    assert (s.stats().events, s.stats().oldest_record) == (10, GROUP_RECORDS.to_bytes(2, "big"))
    assert seqs(s, 0, 100) == list(range(GROUP_RECORDS + 1, n + 1))


def test_map_full_is_spool_full_and_other_ops_still_commit(tmp_path: Path) -> None:
    s = spool(tmp_path, quota=1 << 30, map_size=256 * 1024)
    s.write([Append([rec(b"r" * 100)])], NOW)
    overflow = Append([rec(b"x" * 4000) for _ in range(200)])
    s.write([overflow, Advance("aggregator", 1)], NOW)
    assert isinstance(overflow.error, SpoolFull)
    assert "map is full" in str(overflow.error)
    assert s.cursor("aggregator") == 1
    assert seqs(s, 0, 10) == []  # the cursor move went through and freed the record


def test_readonly_view(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.write([Append([rec(b"abc")])], NOW)
    s.close()
    ro = Spool(str(tmp_path / "spool"), 1 << 20, ("aggregator",), readonly=True)
    st = ro.stats()
    assert (st.events, st.next_seq, st.oldest_record) == (1, 2, b"abc")
    ro.close()


@pytest.mark.parametrize("n", [1, 1000])
def test_many_records_one_transaction(tmp_path: Path, n: int) -> None:
    s = spool(tmp_path)
    s.write([Append([rec() for _ in range(n)])], NOW)
    assert len(s.read(0, 5000).rows) == n


def test_rule_sets_apply_from_the_sequence_of_their_commit(tmp_path: Path) -> None:
    s = spool(tmp_path)
    first = PublishRules(b"rules-1")
    s.write([first, Append([rec(b"a"), rec(b"b")])], NOW)
    again = PublishRules(b"rules-1")
    s.write([again], NOW)  # unchanged: nothing new stored
    second = PublishRules(b"rules-2")
    s.write([Append([rec(b"c")]), second, Append([rec(b"d")])], NOW)
    assert (first.start_seq, again.start_seq, second.start_seq) == (1, 1, 4)
    read = s.read(0, 10)
    assert read.rule_sets == [(1, b"rules-1"), (4, b"rules-2")]
    assert [seq for seq, _ in read.rows] == [1, 2, 3, 4]
    # Kept while a record numbered before 4 is left; then only the latest.
    s.write([Advance("aggregator", 2)], NOW)
    assert len(s.rule_sets()) == 2
    s.write([Advance("aggregator", 3)], NOW)
    assert s.rule_sets() == [(4, b"rules-2")]
    s.close()
    assert spool(tmp_path).rule_sets() == [(4, b"rules-2")]


def test_a_spool_of_the_old_layout_is_refused_not_misread(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path / "spool"), max_dbs=8)
    raw = env.open_db(b"raw")
    with env.begin(write=True) as txn:
        txn.put(b"\x00" * 8, b"old record", db=raw)
    env.close()
    with pytest.raises(SpoolError, match=r"development build older than 0\.1\.0"):
        spool(tmp_path)


def test_the_reason_for_refusing_appends_is_kept_until_one_is_stored(tmp_path: Path) -> None:
    s = spool(tmp_path, quota=1000)
    s.write([Append([rec(b"x" * 600)])], NOW)
    assert s.refusing is None
    s.write([Append([rec(b"x" * 600)])], NOW)
    assert s.refusing is not None
    assert "quota" in s.refusing
    s.write([Advance("aggregator", 1)], NOW)  # frees the space, stores nothing
    assert s.refusing is not None
    s.write([Append([rec(b"x" * 600)])], NOW)
    assert s.refusing is None


@pytest.mark.parametrize(
    ("nearly_full", "reason"), [(True, "disk full at"), (False, "cannot write")]
)
def test_an_io_error_on_commit_refuses_the_appends_and_keeps_the_cursor_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nearly_full: bool, reason: str
) -> None:
    # LMDB answers a short write at the end of a disk with EIO, not ENOSPC
    # (seen on a full tmpfs); the free space decides what the operator is told.
    s = spool(tmp_path)
    s.write([Append([rec(b"a")])], NOW)
    real = s._write_txn

    def failing(ops: list, now_ms: int, appends: bool) -> None:  # type: ignore[type-arg]
        if appends:
            raise lmdb.Error("mdb_txn_commit: Input/output error")
        real(ops, now_ms, appends)

    monkeypatch.setattr(s, "_write_txn", failing)
    monkeypatch.setattr("analyticsd.storage.spool._nearly_full", lambda path: nearly_full)
    refused = Append([rec(b"b")])
    s.write([refused, Advance("aggregator", 1)], NOW)
    assert isinstance(refused.error, SpoolFull)
    assert (s.refusing or "").startswith(reason)
    assert s.cursor("aggregator") == 1
    # Without appends there is nothing to refuse: the error is the spool's.
    monkeypatch.setattr(s, "_write_txn", lambda ops, now_ms, appends: failing(ops, now_ms, True))
    with pytest.raises(SpoolError, match="Input/output"):
        s.write([Advance("aggregator", 2)], NOW)
