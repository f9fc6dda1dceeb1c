"""Spool record encoding.

Two record kinds live in the spool under the same sequence number:
`RawRecord` (as received; holds the client IP and user agent, needed only by
enrichment) and `EnrichedRecord` (privacy-safe: no IP, no raw user agent),
which is what the aggregator and, later, the forwarder consume. Records are
msgpack arrays with a leading schema version so old spools stay readable.
"""

from __future__ import annotations

import msgspec

from analyticsd.core.ingest import IncomingEvent

SCHEMA_VERSION = 1


class RawRecord(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    ip: str
    ua: str
    visitor: str
    event: IncomingEvent


class EnrichedRecord(msgspec.Struct, frozen=True, array_like=True):
    v: int
    event_id: str
    received_ms: int
    visitor: str
    event: IncomingEvent


# The *Head views below repeat the field lists above on purpose: they decode
# the same arrays but leave the event encoded, so enrichment can copy it
# through without decoding. Keep the field order identical to the records
# above (tests/actors/test_pipeline.py decodes one with the other).
class RawHead(msgspec.Struct, frozen=True, array_like=True):
    """A raw record with its event left encoded (msgspec.Raw)."""

    v: int
    event_id: str
    received_ms: int
    ip: str
    ua: str
    visitor: str
    event: msgspec.Raw


class EnrichedHead(msgspec.Struct, frozen=True, array_like=True):
    """An enriched record with its event left encoded; same bytes as EnrichedRecord."""

    v: int
    event_id: str
    received_ms: int
    visitor: str
    event: msgspec.Raw


_encoder = msgspec.msgpack.Encoder()
_enriched_decoder = msgspec.msgpack.Decoder(EnrichedRecord)


_raw_head_decoder = msgspec.msgpack.Decoder(RawHead)
_event_decoder = msgspec.msgpack.Decoder(IncomingEvent)


def decode_raw_head(data: bytes) -> RawHead:
    """Decode all but the event: enrichment rarely needs to look inside it."""
    return _raw_head_decoder.decode(data)


def decode_event(raw: msgspec.Raw) -> IncomingEvent:
    return _event_decoder.decode(raw)


def encode(record: RawRecord | EnrichedRecord | EnrichedHead) -> bytes:
    return _encoder.encode(record)


def decode_enriched(data: bytes) -> EnrichedRecord:
    return _enriched_decoder.decode(data)


_any_decoder = msgspec.msgpack.Decoder()


def received_ms_of(data: bytes) -> int | None:
    """The receive time of a raw or enriched record (both keep it third)."""
    try:
        value = _any_decoder.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(value, list) and len(value) > 2 and isinstance(value[2], int):
        return value[2]
    return None
