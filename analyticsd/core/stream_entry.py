"""The forwarded event as it travels through the Redis stream (SPEC §7).

Each stream entry has two fields: `event_id` and `event`, the enriched event
as a JSON object with a schema version `v`. Named JSON rather than our
msgpack arrays: the stream is the canonical store, read by the hub and by
whatever else an operator points at it, so it must be self-describing.

What crosses the wire is exactly an EnrichedRecord: no IP, no user agent
string (SPEC §2.4). The hub treats entries as untrusted input: `decode`
checks types, sizes and plausibility and raises WireError naming the problem,
so a hostile or corrupt entry goes to the dead-letter stream instead of
crashing the hub or skewing its counts.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import msgspec
from msgspec import Meta

from analyticsd.core.errors import WireError
from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import (
    MAX_ENGAGED_MS,
    MAX_EVENT_AGE_MS,
    MAX_EVENT_TYPE,
    MAX_FUTURE_SKEW_MS,
    MAX_PATH,
    MAX_PROP_VALUE,
    MAX_PROPS,
    MAX_REVENUE,
    MAX_STR,
    UTM_FIELDS,
    IncomingEvent,
)
from analyticsd.core.source import Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import ClientInfo

# The version of the entry format; independent of the spool's record version
# (edges and hubs of different builds share one stream).
WIRE_VERSION = 2
EVENT_ID = b"event_id"
EVENT = b"event"
# Which edge appended the entry and at which of its spool sequences: what the
# hub confirms back (README "Loss detection"). Absent in entries of older
# edges, which are counted the same and simply not confirmed.
ORIGIN = b"origin"
SEQ = b"seq"
_MAX_ORIGIN = 200
# Far above any event the receiver accepts (its body limit is per request,
# its field limits keep one event to a few KiB).
MAX_ENTRY_BYTES = 256 * 1024
# Receive times outside 2001..2100 are corrupt, not late.
_MIN_MS, _MAX_MS = 978_307_200_000, 4_102_444_800_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_GOALS = 64
_UTM = frozenset(UTM_FIELDS)
_INT64 = 1 << 63


# The limits below are msgspec constraints, checked in C while the JSON is
# parsed: the hub's consume rate is bound by these checks (`make bench`,
# bench/hub.py). A violation is worded for the operator by `_say_why`.
_Str = Annotated[str, Meta(max_length=MAX_STR)]
_LongStr = Annotated[str, Meta(max_length=MAX_PATH)]
_UUID_RE = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class WireClient(msgspec.Struct, frozen=True, kw_only=True):
    browser: _Str
    browser_version: _Str
    os: _Str
    os_version: _Str
    device: _Str
    bot: bool


class WireGeo(msgspec.Struct, frozen=True, kw_only=True):
    country: _Str
    region: _Str
    city: _Str


class WireSource(msgspec.Struct, frozen=True, kw_only=True):
    channel: _Str
    source: _Str
    referrer: _LongStr


class WireEvent(msgspec.Struct, frozen=True, kw_only=True):
    v: int
    # The canonical text form of a UUID, exactly what str(uuid.UUID(x)) gives.
    event_id: Annotated[str, Meta(pattern=_UUID_RE)]
    received_ms: Annotated[int, Meta(ge=_MIN_MS, le=_MAX_MS)]
    visitor: Annotated[str, Meta(pattern="^[0-9a-f]{16}$")]
    prev_visitor: Annotated[str, Meta(pattern="^([0-9a-f]{16})?$")]
    client: WireClient
    geo: WireGeo
    lang: _Str
    source: WireSource
    goals: Annotated[tuple[_Str, ...], Meta(max_length=_MAX_GOALS)]
    event: IncomingEvent


# What a constraint failing at a path means, in the words status and the
# dead-letter stream use.
_WHY = {
    "$.received_ms": "received_ms is not a plausible time",
    "$.visitor": "visitor is not a 16-digit hex id",
    "$.prev_visitor": "prev_visitor is not a 16-digit hex id",
    "$.goals": "too many goals, or a goal name too long",
}


class _Version(msgspec.Struct):
    v: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(WireEvent)
_version_decoder = msgspec.json.Decoder(_Version)


def encode(rec: EnrichedRecord) -> tuple[bytes, bytes]:
    """(event_id, event JSON) for one stream entry."""
    c, g, s = rec.client, rec.geo, rec.source
    wire = WireEvent(
        v=WIRE_VERSION,
        event_id=rec.event_id,
        received_ms=rec.received_ms,
        visitor=rec.visitor,
        prev_visitor=rec.prev_visitor,
        client=WireClient(
            browser=c.browser,
            browser_version=c.browser_version,
            os=c.os,
            os_version=c.os_version,
            device=c.device,
            bot=c.bot,
        ),
        geo=WireGeo(country=g.country, region=g.region, city=g.city),
        lang=rec.lang,
        source=WireSource(channel=s.channel, source=s.source, referrer=s.referrer),
        goals=rec.goals,
        event=rec.event,
    )
    return rec.event_id.encode(), _encoder.encode(wire)


def origin_of(fields: dict[bytes, bytes]) -> tuple[str, int] | None:
    """(origin, sequence) of a tagged entry; None if untagged or malformed
    (a malformed tag only costs the confirmation, never the count)."""
    origin, seq = fields.get(ORIGIN), fields.get(SEQ)
    if origin is None or seq is None or len(origin) > _MAX_ORIGIN or not seq.isdigit():
        return None
    try:
        return origin.decode(), int(seq)
    except UnicodeDecodeError:
        return None


def _field(fields: dict[bytes, bytes], name: bytes) -> bytes:
    value = fields.get(name)
    if value is None:
        raise WireError(f"entry has no {name.decode()!r} field")
    return value


def _canonical_uuid(text: str) -> str:
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        raise WireError(f"event_id {text[:64]!r} is not a UUID") from None
    if canonical != text:
        raise WireError(f"event_id {text[:64]!r} is not in canonical form")
    return canonical


def _say_why(raw: bytes, event_id: str, e: msgspec.DecodeError) -> str:
    """Why a parse failed, with the version checked first (an entry of
    another schema fails for that reason, whatever else is off)."""
    try:
        version = _version_decoder.decode(raw).v
    except msgspec.DecodeError as not_object:
        return f"event is not a JSON object with a version: {not_object}"
    if version != WIRE_VERSION:
        return f"unsupported schema version {version} (this hub reads {WIRE_VERSION})"
    where = str(e).rpartition(" - at `")[2].rstrip("`")
    if where == "$.event_id":
        _canonical_uuid(event_id)  # raises with the precise reason
    why = _WHY.get(where.partition("[")[0])  # `$.goals[3]` is about the goals
    if why is not None:
        return why
    if "length <=" in str(e):
        limit = str(e).partition("length <= ")[2].split(" ")[0]
        return f"{where.removeprefix('$.')}: a value is longer than {limit} characters"
    return f"invalid event: {e}"


def decode(fields: dict[bytes, bytes], known_sites: frozenset[str]) -> EnrichedRecord:
    """The record a stream entry carries; WireError says why it is unusable."""
    raw = _field(fields, EVENT)
    if len(raw) > MAX_ENTRY_BYTES:
        raise WireError(f"event is {len(raw)} bytes, more than {MAX_ENTRY_BYTES}")
    try:
        event_id = _field(fields, EVENT_ID).decode()
    except UnicodeDecodeError:
        raise WireError("event_id is not UTF-8") from None
    try:
        w = _decoder.decode(raw)
    except msgspec.DecodeError as e:
        raise WireError(_say_why(raw, event_id, e)) from None
    if w.v != WIRE_VERSION:
        raise WireError(f"unsupported schema version {w.v} (this hub reads {WIRE_VERSION})")
    if w.event_id != event_id:
        raise WireError("event_id field and the event's event_id differ")
    ev = w.event
    if ev.site_id not in known_sites:
        raise WireError(f"unknown site {ev.site_id[:64]!r}: add it to the hub's [[sites]]")
    if (
        not w.received_ms - MAX_EVENT_AGE_MS
        <= ev.timestamp_ms
        <= w.received_ms + MAX_FUTURE_SKEW_MS
    ):
        raise WireError("timestamp_ms is too far from received_ms")
    _check_event(ev)
    c, g, s = w.client, w.geo, w.source
    return EnrichedRecord(
        event_id=w.event_id,
        received_ms=w.received_ms,
        visitor=w.visitor,
        prev_visitor=w.prev_visitor,
        client=ClientInfo(c.browser, c.browser_version, c.os, c.os_version, c.device, c.bot),
        geo=GeoInfo(g.country, g.region, g.city),
        lang=w.lang,
        source=Source(s.channel, s.source, s.referrer),
        goals=w.goals,
        event=ev,
    )


# The hub counts what edges validated; an entry written by anything else must
# not get values into the aggregator that the receiver would have refused
# (a huge revenue or a visitor id that is not 64 bits would make every later
# SQLite flush fail).


def _check_event(ev: IncomingEvent) -> None:
    # Plain comparisons, no generators: this runs once per entry the hub reads.
    if not 0 < len(ev.event_type) <= MAX_EVENT_TYPE:
        raise WireError(f"event_type must be 1 to {MAX_EVENT_TYPE} characters")
    if not ev.path.startswith("/") or len(ev.path) > MAX_PATH:
        raise WireError(f"path must start with / and be at most {MAX_PATH} characters")
    if (
        len(ev.hostname) > MAX_STR
        or (ev.session_id is not None and len(ev.session_id) > MAX_STR)
        or (ev.user_id is not None and len(ev.user_id) > MAX_STR)
    ):
        raise WireError(f"event: a value is longer than {MAX_STR} characters")
    if len(ev.referrer) > MAX_PATH:
        raise WireError(f"event.referrer: a value is longer than {MAX_PATH} characters")
    if ev.screen_width is not None and not 0 <= ev.screen_width <= 100_000:
        raise WireError("screen_width must be between 0 and 100000")
    if ev.utm and (not set(ev.utm) <= _UTM or any(len(v) > MAX_STR for v in ev.utm.values())):
        raise WireError("utm holds an unknown key or a value too long")
    if ev.scroll_depth is not None and not 0 <= ev.scroll_depth <= 100:
        raise WireError("scroll_depth must be between 0 and 100")
    if ev.engaged_ms is not None and not 0 <= ev.engaged_ms <= MAX_ENGAGED_MS:
        raise WireError(f"engaged_ms must be between 0 and {MAX_ENGAGED_MS}")
    if ev.props:
        _check_props(ev)
    if ev.revenue_amount is not None or ev.revenue_currency is not None:
        _check_revenue(ev.revenue_amount, ev.revenue_currency)


def _check_props(ev: IncomingEvent) -> None:
    if len(ev.props) > MAX_PROPS:
        raise WireError(f"more than {MAX_PROPS} props")
    for key, value in ev.props.items():
        if len(key) > MAX_STR:
            raise WireError("a prop name is too long")
        if isinstance(value, str) and len(value) > MAX_PROP_VALUE:
            raise WireError(f"props.{key[:64]} is longer than {MAX_PROP_VALUE} characters")
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise WireError(f"props.{key[:64]} is out of the 64-bit range")


def _check_revenue(amount: str | None, currency: str | None) -> None:
    if amount is None and currency is None:
        return
    if amount is None or currency is None or not _CURRENCY.match(currency):
        raise WireError("revenue needs an amount and a 3-letter currency")
    try:
        value = Decimal(amount) if len(amount) <= 40 else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) > MAX_REVENUE:
        raise WireError("revenue amount must be a number between -1e12 and 1e12")
