from __future__ import annotations

import uuid

import msgspec

from analyticsd.actors.hub import decode_entries
from analyticsd.core import stream_entry
from analyticsd.core.enrich import enrich
from analyticsd.core.spool_record import decode
from tests.core.records_fixture import rec

NOW = 1_790_000_000_000


def test_entries_are_sorted_into_stored_deleted_and_failed() -> None:
    record = msgspec.structs.replace(rec(NOW, received_ms=NOW), event_id=str(uuid.uuid4()))
    eid, event = stream_entry.encode(record)
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
    # Stored with the edge's enrichment, which the hub's enricher keeps.
    assert decode(stored.data).source == record.source
    assert enrich(decode(stored.data), {}) == record
    [(failed_id, _, reason)] = out.failed
    assert failed_id == b"3-0"
    assert "JSON" in reason
