"""Spool record encoding.

Two record kinds live in the spool under the same sequence number:

* `RawRecord`, written by the receiver: the validated event plus what the
  request said about the client. The IP address and the user agent string are
  *not* in it: everything that needs them (visitor ids, browser/OS/device,
  bot flag, GeoIP) is derived while the request is in memory, so they never
  touch the disk. (LMDB reuses freed pages without zeroing them, so "delete
  the raw record after enrichment" would leave them in the file for a while.)
* `EnrichedRecord`, written by the enricher in place of the raw one: adds the
  traffic source and the goals the event completes. This is what the
  aggregator (and the forwarder) consume.

Records are msgpack arrays with a leading schema version. Version 1 records
(written before enrichment existed; the raw ones held IP and UA) are still
read, so a spool survives the upgrade.
"""

from __future__ import annotations

import msgspec

from analyticsd.core.geo import NO_GEO, GeoInfo
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.source import DIRECT, DIRECT_NAME, Source
from analyticsd.core.useragent import UNKNOWN_CLIENT, ClientInfo

SCHEMA_VERSION = 2


class RawRecord(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    # The id under yesterday's salt, only in the 30 minutes after midnight,
    # so a visit in progress keeps its session across the salt change.
    prev_visitor: str
    client: ClientInfo
    geo: GeoInfo
    lang: str
    event: IncomingEvent


class EnrichedRecord(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    prev_visitor: str
    client: ClientInfo
    geo: GeoInfo
    lang: str
    source: Source
    goals: tuple[str, ...]
    event: IncomingEvent


# The *Head views decode the same arrays as the records above but leave the
# event and the client facts encoded (msgspec.Raw), so the enricher copies
# them through without decoding. Keep their field order identical to the
# records above (tests/core/test_records.py checks they round-trip).
class RawHead(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    prev_visitor: str
    client: msgspec.Raw
    geo: msgspec.Raw
    lang: str
    event: msgspec.Raw


class EnrichedHead(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    prev_visitor: str
    client: msgspec.Raw
    geo: msgspec.Raw
    lang: str
    source: Source
    goals: tuple[str, ...]
    event: msgspec.Raw


class EventView(msgspec.Struct, frozen=True):
    """The fields of an encoded IncomingEvent that enrichment reads (the rest
    are skipped while decoding)."""

    site_id: str
    event_type: str
    path: str
    hostname: str
    referrer: str
    utm: dict[str, str]
    click_id: str = ""


class RawRecordV1(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    ip: str
    ua: str
    visitor: str
    event: IncomingEvent


class EnrichedRecordV1(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    event: IncomingEvent


_encoder = msgspec.msgpack.Encoder()
_raw_v1_decoder = msgspec.msgpack.Decoder(RawRecordV1)
_enriched_decoder = msgspec.msgpack.Decoder(EnrichedRecord)
_enriched_v1_decoder = msgspec.msgpack.Decoder(EnrichedRecordV1)
_any_decoder = msgspec.msgpack.Decoder()
_raw_head_decoder = msgspec.msgpack.Decoder(RawHead)
_view_decoder = msgspec.msgpack.Decoder(EventView)


# An EnrichedRecord is an 11-element msgpack array. The hub stores records
# consumed from the stream (enriched by an edge) in its raw table, so they
# keep their place in spool order; the enricher passes them through.
_ENRICHED_HEADER = 0x9B


def is_enriched(data: bytes) -> bool:
    return bool(data) and data[0] == _ENRICHED_HEADER


def decode_raw_head(data: bytes) -> RawHead | RawRecordV1:
    """The current version as a head view; version 1 decoded whole."""
    try:
        return _raw_head_decoder.decode(data)
    except msgspec.DecodeError:
        return _raw_v1_decoder.decode(data)


def decode_view(event: msgspec.Raw) -> EventView:
    return _view_decoder.decode(event)


def encode(record: msgspec.Struct) -> bytes:
    return _encoder.encode(record)


_RAW_HEADER = b"\x99" + msgspec.msgpack.encode(SCHEMA_VERSION)  # a 9-element array


def raw_shared(
    received_ms: int, visitor: str, prev_visitor: str, client: ClientInfo, geo: GeoInfo, lang: str
) -> bytes:
    """The encoded fields a request's raw records share (they come from one
    client at one instant): encoded once per request, not per event."""
    enc = _encoder.encode
    return b"".join(
        (enc(received_ms), enc(visitor), enc(prev_visitor), enc(client), enc(geo), enc(lang))
    )


def raw_record_bytes(event_id: str, shared: bytes, event: IncomingEvent) -> bytes:
    """The same bytes as encode(RawRecord(...)) (tests/core/test_records.py)."""
    enc = _encoder.encode
    return b"".join((_RAW_HEADER, enc(event_id), shared, enc(event)))


def decode_enriched(data: bytes) -> EnrichedRecord:
    """Raises msgspec.DecodeError when the bytes are neither version."""
    try:
        return _enriched_decoder.decode(data)
    except msgspec.DecodeError:
        old = _enriched_v1_decoder.decode(data)
    # A version 1 record predates enrichment: no client facts are known.
    return EnrichedRecord(
        v=SCHEMA_VERSION,
        event_id=old.event_id,
        received_ms=old.received_ms,
        visitor=old.visitor,
        prev_visitor="",
        client=UNKNOWN_CLIENT,
        geo=NO_GEO,
        lang="",
        source=Source(DIRECT, DIRECT_NAME, ""),
        goals=(),
        event=old.event,
    )


def received_ms_of(data: bytes) -> int | None:
    """The receive time of a raw or enriched record (all versions keep it third)."""
    try:
        value = _any_decoder.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(value, list) and len(value) > 2 and isinstance(value[2], int):
        return value[2]
    return None
