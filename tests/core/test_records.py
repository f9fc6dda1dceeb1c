"""The head views and the full records describe the same bytes."""

from __future__ import annotations

import msgspec

from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import SiteRules, enrich, enrich_head
from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.records import (
    SCHEMA_VERSION,
    RawRecord,
    RawRecordV1,
    decode_enriched,
    decode_raw_head,
    decode_view,
    encode,
    raw_record_bytes,
    raw_shared,
)
from tests.core.records_fixture import DESKTOP

NOW = 1_795_000_000_000


def raw() -> RawRecord:
    ev = validate_event(
        {
            "siteId": "s",
            "eventType": "Signup",
            "url": "https://s.example/join?utm_source=news&gclid=x",
            "referrer": "https://www.google.de/",
            "props": {"plan": "pro", "seats": 3},
            "revenue": {"amount": "9.5", "currency": "EUR"},
            "userId": "u1",
        },
        NOW,
    )
    assert isinstance(ev, IncomingEvent)
    return RawRecord(
        SCHEMA_VERSION, "id", NOW, "v1", "v0", DESKTOP, GeoInfo("DE", "Berlin", "Berlin"), "de", ev
    )


def test_fast_and_full_enrichment_write_the_same_bytes() -> None:
    rules = SiteRules(SiteConfig(id="s", goals=(GoalConfig(event="Signup"),)))
    record = raw()
    head = decode_raw_head(encode(record))
    assert not isinstance(head, RawRecordV1)
    fast = encode(enrich_head(head, decode_view(head.event), rules))
    full = encode(enrich(record, rules))
    assert fast == full
    back = decode_enriched(fast)
    assert back.event == record.event
    assert back.client == DESKTOP
    assert back.goals == ("Signup",)
    assert (back.source.channel, back.source.source) == ("paid", "news")


def test_version_1_raw_records_are_recognised() -> None:
    old = RawRecordV1(1, "id", NOW, "203.0.113.1", "UA", "v1", raw().event)
    assert isinstance(decode_raw_head(encode(old)), RawRecordV1)


def test_records_encoded_in_parts_are_the_same_bytes() -> None:
    record = raw()
    shared = raw_shared(
        record.received_ms,
        record.visitor,
        record.prev_visitor,
        record.client,
        record.geo,
        record.lang,
    )
    assert raw_record_bytes(record.event_id, shared, record.event) == encode(record)
    long_id = "00000000-0000-4000-8000-000000000000"
    assert raw_record_bytes(long_id, shared, record.event) == encode(
        msgspec.structs.replace(record, event_id=long_id)
    )
