"""The Redis stream wrapper against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyticsd.core.errors import CanonicalStoreError
from analyticsd.storage.canonical import StreamConsumer, StreamProducer
from tests.helpers import free_port
from tests.redis_server import RedisServer, redis_server

STREAM, GROUP, DEAD = "s", "g", "s:dead"


@pytest.fixture
def rs(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def _tagged(pairs: list[tuple[bytes, bytes]], first_seq: int = 1) -> list[tuple[bytes, bytes, int]]:
    return [(eid, ev, first_seq + i) for i, (eid, ev) in enumerate(pairs)]


def _consumer(rs: RedisServer, name: str) -> StreamConsumer:
    c = StreamConsumer(rs.url, STREAM, GROUP, name, DEAD, timeout_s=2)
    c.ensure_group()
    return c


def test_append_then_read_in_order_and_ack(rs: RedisServer) -> None:
    p = StreamProducer(rs.url, STREAM, timeout_s=2)
    c = _consumer(rs, "c1")
    c.ensure_group()  # twice is fine
    p.append(_tagged([(f"id{i}".encode(), f"ev{i}".encode()) for i in range(5)]), 0, 5)
    got = c.read(pending_after=None, count=10, block_ms=100)
    assert [f[b"event_id"] for _, f in got if f] == [f"id{i}".encode() for i in range(5)]
    assert c.read(pending_after=None, count=10, block_ms=50) == []
    # Delivered, not acknowledged: they are this consumer's pending entries,
    # walked in order from the start or after a given id.
    assert len(c.read(pending_after=b"0", count=10, block_ms=None)) == 5
    after_second = c.read(pending_after=got[1][0], count=10, block_ms=None)
    assert [eid for eid, _ in after_second] == [eid for eid, _ in got[2:]]
    c.ack([eid for eid, _ in got])
    assert c.read(pending_after=b"0", count=10, block_ms=None) == []


def test_another_consumer_claims_idle_entries_and_deliveries_count(rs: RedisServer) -> None:
    StreamProducer(rs.url, STREAM, timeout_s=2).append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2)
    crashed, rescuer = _consumer(rs, "crashed"), _consumer(rs, "rescuer")
    first = crashed.read(pending_after=None, count=10, block_ms=100)
    assert rescuer.claim(60_000, b"0-0", 10).entries == []  # not idle long enough
    time.sleep(0.15)
    claimed = rescuer.claim(100, b"0-0", 10)
    assert [eid for eid, _ in claimed.entries] == [eid for eid, _ in first]
    assert rescuer.deliveries(first[0][0]) == 2
    assert crashed.read(pending_after=b"0", count=10, block_ms=None) == []


def test_dead_letter_moves_and_acknowledges_together(rs: RedisServer) -> None:
    StreamProducer(rs.url, STREAM, timeout_s=2, origin="e1").append([(b"a", b"{bad", 7)], 0, 7)
    c = _consumer(rs, "c")
    [(eid, fields)] = c.read(pending_after=None, count=10, block_ms=100)
    assert fields is not None
    c.dead_letter(eid, fields, "invalid event", 5)
    assert c.deliveries(eid) == 0
    [(_, dead)] = rs.client().xrange(DEAD)
    assert dead == {
        b"stream": b"s",
        b"id": eid,
        b"reason": b"invalid event",
        b"deliveries": b"5",
        b"entry:event_id": b"a",
        b"entry:event": b"{bad",
        b"entry:origin": b"e1",
        b"entry:seq": b"7",
    }


def test_unreachable_store_raises_our_error_quickly() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    p = StreamProducer(url, STREAM, timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(CanonicalStoreError, match="PING: ConnectionError"):
        p.ping()
    with pytest.raises(CanonicalStoreError, match="XADD"):
        p.append([(b"a", b"1", 1)], 0, 1)
    assert time.monotonic() - start < 2  # no hidden retries with backoff


def test_durability_warnings_name_what_could_lose_events(rs: RedisServer) -> None:
    p = StreamProducer(rs.url, STREAM, timeout_s=2)
    assert p.durability_warnings() == []  # the test server runs AOF, noeviction
    client = rs.client()
    client.config_set("appendonly", "no")
    client.config_set("maxmemory-policy", "allkeys-lru")
    warnings = p.durability_warnings()
    assert any("without AOF" in w for w in warnings)
    assert any("allkeys-lru" in w for w in warnings)


def test_append_is_refused_once_redis_lost_entries_of_ours(rs: RedisServer) -> None:
    p = StreamProducer(rs.url, STREAM, timeout_s=2, origin="e1")
    assert p.append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2).added == 2
    # The same batch again (its reply was lost): found there, not added twice.
    again = p.append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2)
    assert (again.added, again.lost) == (0, False)
    assert p.progress() == (2, 0)  # our mark; the hub has confirmed nothing yet
    rs.client().flushall()  # what a restart without persistence does
    lost = p.append(_tagged([(b"c", b"3")], first_seq=3), 2, 3)
    assert (lost.lost, lost.mark, lost.added) == (True, 0, 0)
    assert rs.client().xlen(STREAM) == 0  # nothing new behind the hole
    assert p.progress() == (0, 0)
    # Forwarding again from the last confirmed record, expecting what is there.
    assert p.append(_tagged([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]), 0, 3).added == 3
    # A restart between an append and the cursor move, with other batch
    # boundaries: what the mark covers is not sent again, the rest is.
    assert p.append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2).added == 0
    assert p.append(_tagged([(b"c", b"3"), (b"d", b"4")], first_seq=3), 2, 4).added == 2
    # The stream gone while the marks stayed (deleted, evicted): a loss too.
    rs.client().delete(STREAM)
    assert p.progress() == (0, 0)
    assert p.append(_tagged([(b"e", b"5")], first_seq=5), 4, 5).lost


def test_scripts_refused_falls_back_to_multi_with_the_same_checks(rs: RedisServer) -> None:
    rs.client().execute_command(
        "ACL", "SETUSER", "edge", "on", ">pw", "~*", "&*", "+@all", "-@scripting"
    )
    url = f"redis://edge:pw@127.0.0.1:{rs.port}/0"
    p = StreamProducer(url, STREAM, timeout_s=2, origin="e1")
    assert p.append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2).added == 2
    assert not p.scripts  # NOPERM seen once, MULTI from then on
    assert p.append(_tagged([(b"a", b"1"), (b"b", b"2")]), 0, 2).added == 0  # already there
    assert p.append(_tagged([(b"c", b"3")], first_seq=3), 2, 3).added == 1
    assert p.append(_tagged([(b"e", b"5")], first_seq=5), 4, 5).lost  # we had sent up to 4
    entries = rs.client().xrange(STREAM)
    assert [(f[b"event_id"], f[b"origin"], f[b"seq"]) for _, f in entries] == [
        (b"a", b"e1", b"1"), (b"b", b"e1", b"2"), (b"c", b"e1", b"3"),
    ]  # fmt: skip


def test_trim_keeps_what_any_group_still_needs(rs: RedisServer) -> None:
    p = StreamProducer(rs.url, STREAM, timeout_s=2)
    p.append(_tagged([(f"id{i}".encode(), b"x") for i in range(300)]), 0, 300)
    c = _consumer(rs, "c1")
    other = StreamConsumer(rs.url, STREAM, "other-group", "o", DEAD, timeout_s=2)
    other.ensure_group()
    got = c.read(pending_after=None, count=300, block_ms=100)
    c.ack([eid for eid, _ in got])
    assert c.trim(keep_ms=0) == 0  # the other group has read nothing
    part = other.read(pending_after=None, count=250, block_ms=100)
    other.ack([eid for eid, _ in part[:120]])  # 120 acked, 130 pending, 50 unread
    trimmed = c.trim(keep_ms=0)
    left = rs.client().xrange(STREAM)
    assert len(left) == 300 - trimmed
    # Stream ids compare as (ms, seq) numbers, not as bytes ("-98" < "-118").
    assert _id(left[0][0]) <= _id(part[120][0])  # the first pending entry is kept
    assert trimmed >= 100  # whole macro nodes below it went
    assert c.trim(keep_ms=3_600_000) == 0  # all younger than the safety window
    assert c.lag().lag == 0
    assert (other.lag().lag, other.lag().pending) == (50, 130)


def test_confirmations_are_read_back_per_origin(rs: RedisServer) -> None:
    p1 = StreamProducer(rs.url, STREAM, timeout_s=2, origin="e1")
    p2 = StreamProducer(rs.url, STREAM, timeout_s=2, origin="e2")
    p1.append(_tagged([(b"a", b"1")]), 0, 1)
    _consumer(rs, "c").confirm({"e1": 1, "e2": 40})
    assert p1.progress() == (1, 1)
    assert p2.progress() == (0, 40)


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq)
