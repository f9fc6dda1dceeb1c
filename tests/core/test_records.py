"""Spool records: the version tag, the hot-path encoding, enrichment on read."""

from __future__ import annotations

import msgspec
import pytest

from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import enrich, rules_for
from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.source import Source
from analyticsd.core.spool_record import (
    Record,
    decode,
    encode,
    received_ms_of,
    record_bytes,
    shared_fields,
    stored_form,
)
from tests.core.records_fixture import DESKTOP

NOW = 1_795_000_000_000


def stored() -> Record:
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
    return Record(
        "id", NOW, "v1", "v0", DESKTOP, GeoInfo("DE", "Berlin", "Berlin"), "de", None, (), ev
    )


def test_records_encoded_in_parts_are_the_same_bytes() -> None:
    record = stored()
    shared = shared_fields(
        record.received_ms,
        record.visitor,
        record.prev_visitor,
        record.client,
        record.geo,
        record.lang,
    )
    assert record_bytes(record.event_id, shared, record.event) == encode(record)
    long_id = "00000000-0000-4000-8000-000000000000"
    assert record_bytes(long_id, shared, record.event) == encode(
        msgspec.structs.replace(record, event_id=long_id)
    )
    assert decode(record_bytes(long_id, shared, record.event)).event_id == long_id


def test_the_version_is_an_explicit_tag() -> None:
    data = encode(stored())
    assert msgspec.msgpack.decode(data)[0] == 3
    # A record of another version is refused by name, not guessed at.
    other = msgspec.msgpack.encode([2, *msgspec.msgpack.decode(data)[1:]])
    with pytest.raises(msgspec.DecodeError, match="Invalid value 2"):
        decode(other)
    assert received_ms_of(other) is None
    assert received_ms_of(data) == NOW


def test_enrichment_adds_source_and_goals() -> None:
    rules = rules_for([SiteConfig(id="s", goals=(GoalConfig(event="Signup"),))])
    back = enrich(decode(encode(stored())), rules)
    assert back.event == stored().event
    assert back.client == DESKTOP
    assert back.goals == ("Signup",)
    # gclid is paid search from Google only (Plausible): a tagged "news" is a referral
    assert (back.source.channel, back.source.source) == ("Referral", "news")


def test_records_enriched_by_an_edge_keep_what_it_found() -> None:
    edge = enrich(stored(), rules_for([SiteConfig(id="s", goals=(GoalConfig(event="Signup"),))]))
    edge = msgspec.structs.replace(edge, source=Source("Referral", "Edge", "e.example"))
    kept = decode(encode(stored_form(edge)))
    # The hub has no goals configured: the edge's enrichment still stands.
    assert enrich(kept, rules_for([])) == edge
