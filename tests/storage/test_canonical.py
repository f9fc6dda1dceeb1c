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


def _consumer(rs: RedisServer, name: str) -> StreamConsumer:
    c = StreamConsumer(rs.url, STREAM, GROUP, name, DEAD, timeout_s=2)
    c.ensure_group()
    return c


def test_append_then_read_in_order_and_ack(rs: RedisServer) -> None:
    p = StreamProducer(rs.url, STREAM, timeout_s=2)
    c = _consumer(rs, "c1")
    c.ensure_group()  # twice is fine
    p.append([(f"id{i}".encode(), f"ev{i}".encode()) for i in range(5)])
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
    StreamProducer(rs.url, STREAM, timeout_s=2).append([(b"a", b"1"), (b"b", b"2")])
    crashed, rescuer = _consumer(rs, "crashed"), _consumer(rs, "rescuer")
    first = crashed.read(pending_after=None, count=10, block_ms=100)
    assert rescuer.claim(60_000, b"0-0", 10).entries == []  # not idle long enough
    time.sleep(0.15)
    claimed = rescuer.claim(100, b"0-0", 10)
    assert [eid for eid, _ in claimed.entries] == [eid for eid, _ in first]
    assert rescuer.deliveries(first[0][0]) == 2
    assert crashed.read(pending_after=b"0", count=10, block_ms=None) == []


def test_dead_letter_moves_and_acknowledges_together(rs: RedisServer) -> None:
    StreamProducer(rs.url, STREAM, timeout_s=2).append([(b"a", b"{bad")])
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
    }


def test_unreachable_store_raises_our_error_quickly() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    p = StreamProducer(url, STREAM, timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(CanonicalStoreError, match="PING: ConnectionError"):
        p.ping()
    with pytest.raises(CanonicalStoreError, match="XADD"):
        p.append([(b"a", b"1")])
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
