from __future__ import annotations

import uuid

import msgspec

from analyticsd.actors.hub import decode_entries
from analyticsd.core import wire
from analyticsd.core.records import decode_enriched, is_enriched
from tests.core.records_fixture import rec

NOW = 1_790_000_000_000


def test_entries_are_sorted_into_stored_deleted_and_failed() -> None:
    record = msgspec.structs.replace(rec(NOW, received_ms=NOW), event_id=str(uuid.uuid4()))
    eid, event = wire.encode(record)
    entries = [
        (b"1-0", {b"event_id": eid, b"event": event}),
        (b"2-0", None),  # deleted from the stream while pending
        (b"3-0", {b"event_id": eid, b"event": b"{oops"}),
    ]
    out = decode_entries(entries, frozenset({"s"}))
    assert out.done_ids == [b"1-0", b"2-0"]
    [stored] = out.records
    assert stored.event_id == record.event_id
    assert stored.indexed  # deduped by eventId across edges
    # Stored already enriched: the hub's enricher passes it through as is.
    assert is_enriched(stored.data)
    assert decode_enriched(stored.data) == record
    [(failed_id, _, reason)] = out.failed
    assert failed_id == b"3-0"
    assert "JSON" in reason


def test_enricher_passes_records_consumed_by_a_hub_through_unchanged() -> None:
    from analyticsd.actors.enricher import enrich_batch
    from analyticsd.core.records import encode

    data = encode(msgspec.structs.replace(rec(NOW), event_id=str(uuid.uuid4())))

    def no_facts(ip: str, ua: str) -> object:
        raise AssertionError("a forwarded record needs no client facts")

    assert enrich_batch([(7, data)], {}, no_facts) == [(7, data)]  # type: ignore[arg-type]
