"""Spool records: one record kind, tagged with its version.

The receiver writes one `Record` per accepted event, in the one fsynced
transaction that acknowledges it: that is the only durable write an event
needs before it is counted and forwarded. The IP address and the user agent
string are *not* in it: everything that needs them (visitor ids,
browser/OS/device, bot flag, GeoIP) is derived while the request is in
memory, so they never touch the disk.

What enrichment adds (traffic source, goals) is not written back: the
enricher computes it each time a consumer reads the record (core.enrich,
pure), with the rule set the spool assigns to the record's sequence number
(see storage.spool), so every consumer gets the same answer. Records a hub
consumed from the stream come enriched by their edge: their `source` is set
and they are passed through unchanged.

Records are msgpack arrays whose first element is the version tag (msgspec's
tagged array structs): a record of another version is refused by name, never
guessed from its bytes. Development builds before 0.1.0 wrote raw and
enriched records (versions 1 and 2) to separate tables; storage.spool
refuses such a spool instead of reading it.
"""

from __future__ import annotations

import msgspec

from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.source import Source
from analyticsd.core.useragent import ClientInfo

SCHEMA_VERSION = 3


class Record(msgspec.Struct, frozen=True, array_like=True, tag=SCHEMA_VERSION):
    """An accepted event as the spool keeps it."""

    event_id: str
    received_ms: int
    visitor: str
    # The id under yesterday's salt, only in the 30 minutes after midnight,
    # so a visit in progress keeps its visit across the salt change.
    prev_visitor: str
    client: ClientInfo
    geo: GeoInfo
    lang: str
    # Set only on records enriched elsewhere (a hub's, from an edge's stream).
    source: Source | None
    goals: tuple[str, ...]
    event: IncomingEvent


class EnrichedRecord(msgspec.Struct, frozen=True):
    """A record with its traffic source and goals: what consumers are handed
    (in memory only; never stored)."""

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


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def decode(data: bytes) -> Record:
    """Raises msgspec.DecodeError (naming the problem) for anything else."""
    return _decoder.decode(data)


def stored_form(rec: EnrichedRecord) -> Record:
    """The record a hub stores for an event an edge already enriched."""
    return Record(
        rec.event_id, rec.received_ms, rec.visitor, rec.prev_visitor, rec.client,
        rec.geo, rec.lang, rec.source, rec.goals, rec.event,
    )  # fmt: skip


# A Record is a 11-element array: the tag, then its 10 fields.
_HEADER = b"\x9b" + _encoder.encode(SCHEMA_VERSION)
_NOT_ENRICHED = _encoder.encode(None) + _encoder.encode(())


def shared_fields(
    received_ms: int, visitor: str, prev_visitor: str, client: ClientInfo, geo: GeoInfo, lang: str
) -> bytes:
    """The encoded fields a request's records share (they come from one
    client at one instant): encoded once per request, not per event."""
    enc = _encoder.encode
    return b"".join(
        (enc(received_ms), enc(visitor), enc(prev_visitor), enc(client), enc(geo), enc(lang))
    )


def record_bytes(event_id: str, shared: bytes, event: IncomingEvent) -> bytes:
    """The same bytes as encode(Record(...)) with no enrichment, built from
    pieces on the receiver's hot path (tests/core/test_records.py pins them
    equal)."""
    enc = _encoder.encode
    return b"".join((_HEADER, enc(event_id), shared, _NOT_ENRICHED, enc(event)))


def received_ms_of(data: bytes) -> int | None:
    """The receive time of a stored record; None if it is unreadable."""
    try:
        return decode(data).received_ms
    except msgspec.DecodeError:
        return None
