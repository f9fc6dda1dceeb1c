from __future__ import annotations

import json
import uuid

import msgspec

from analyticsd.actors.forwarder import encode_rows
from analyticsd.core.records import encode
from tests.core.records_fixture import rec


def test_rows_become_stream_entries_and_unreadable_ones_are_skipped() -> None:
    good = [
        msgspec.structs.replace(rec(1_790_000_000_000 + i), event_id=str(uuid.uuid4()))
        for i in range(3)
    ]
    rows = [(1, encode(good[0])), (2, b"\xc1garbage"), (3, encode(good[1])), (4, encode(good[2]))]
    entries, bad = encode_rows(rows)
    assert bad == 1
    assert [eid.decode() for eid, _ in entries] == [r.event_id for r in good]
    assert [json.loads(ev)["event"]["timestamp_ms"] for _, ev in entries] == [
        r.event.timestamp_ms for r in good
    ]
