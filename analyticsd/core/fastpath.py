"""Fast path for well-formed ingest bodies.

msgspec decodes the body straight into typed structs, checking types and
lengths in C, which measured about half the per-event CPU of the validator on
batched ingest. It is only an accelerator: it accepts a subset of what
`ingest.validate_event` accepts and builds the same `IncomingEvent`; any body
it does not accept goes through the validator, which also writes the error
messages. Fields that need more than a type check reuse the validator's own
helpers. tests/core/test_fastpath.py checks that the two paths agree.

Hostile input is left to the validator: a body that is not UTF-8 throughout,
or that escapes a control character anywhere, is not taken here; `path` and
`url` are typed without `null` (the validator refuses it), and a blank
`siteId` or `eventType` is not taken either.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from analyticsd.core.ingest import (
    ENGAGEMENT,
    MAX_EVENT_TYPE,
    MAX_PATH,
    MAX_STR,
    UTM_FIELDS,
    IncomingEvent,
    is_blank,
    is_utf8,
    normalise_event_type,
    normalise_path,
    read_event_id,
    read_path_and_host,
    read_props,
    read_revenue,
    read_timestamp,
    url_attribution,
)
from analyticsd.core.problems import Problems

Str256 = Annotated[str, msgspec.Meta(max_length=MAX_STR)]
Str2048 = Annotated[str, msgspec.Meta(max_length=MAX_PATH)]
MAX_BATCH = 500


class FastEvent(msgspec.Struct):
    siteId: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_STR)]
    eventType: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EVENT_TYPE)]
    # UNSET, not None: an explicit null path or url is an error, not absence.
    path: Str2048 | msgspec.UnsetType = msgspec.UNSET
    url: Str2048 | msgspec.UnsetType = msgspec.UNSET
    referrer: Str2048 | None = None
    timestamp: str | None = None
    eventId: str | None = None
    sessionId: Str256 | None = None
    userId: Str256 | None = None
    screenWidth: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    props: dict[str, Any] | None = None
    revenue: dict[str, Any] | None = None
    utm_source: Str256 | None = None
    utm_medium: Str256 | None = None
    utm_campaign: Str256 | None = None
    utm_content: Str256 | None = None
    utm_term: Str256 | None = None


class FastBatch(msgspec.Struct):
    events: Annotated[list[FastEvent], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


_single = msgspec.json.Decoder(FastEvent)
_batch = msgspec.json.Decoder(FastBatch)


def _convert(f: FastEvent, now_ms: int) -> IncomingEvent | None:
    path = None if isinstance(f.path, msgspec.UnsetType) else f.path
    url = None if isinstance(f.url, msgspec.UnsetType) else f.url
    if (path is None and url is None) or is_blank(f.siteId) or is_blank(f.eventType):
        return None
    if f.eventType == ENGAGEMENT:  # its own fields are the validator's to read
        return None
    hostname, ts, event_id = "", now_ms, None
    props: dict[str, Any] = {}
    amount = currency = None
    if (
        url is not None
        or f.timestamp is not None
        or f.eventId is not None
        or (f.props is not None or f.revenue is not None)
    ):
        # Rare fields: the validator's helpers read them from a mapping;
        # an absent field is left out, as in a decoded body.
        given = {
            "path": path,
            "url": url,
            "timestamp": f.timestamp,
            "eventId": f.eventId,
            "props": f.props,
            "revenue": f.revenue,
        }
        rare = {k: v for k, v in given.items() if v is not None}
        errs = Problems()
        path, hostname = read_path_and_host(rare, errs)
        ts = read_timestamp(rare, now_ms, errs)
        event_id = read_event_id(rare, errs)
        if f.props is not None:
            props = read_props(rare, errs)
        if f.revenue is not None:
            amount, currency = read_revenue(rare, errs)
        if errs.messages:
            return None
    else:
        assert path is not None
        path = normalise_path(path)
    utm: dict[str, str] = {}
    if (
        f.utm_source is not None
        or f.utm_medium is not None
        or f.utm_campaign is not None
        or f.utm_content is not None
        or f.utm_term is not None
    ):  # most beacons carry none: skip building the map
        utm = {k: v for k in UTM_FIELDS if (v := getattr(f, k)) is not None}
    utm, click_id = url_attribution(url, utm)
    return IncomingEvent(
        site_id=f.siteId,
        event_type=normalise_event_type(f.eventType),
        path=path,
        hostname=hostname,
        timestamp_ms=ts,
        event_id=event_id,
        referrer=f.referrer or "",
        props=props,
        revenue_amount=amount,
        revenue_currency=currency,
        session_id=f.sessionId,
        user_id=f.userId,
        screen_width=f.screenWidth,
        utm=utm,
        click_id=click_id,
    )


# JSON carries a C0 control character in a string only escaped (\u0000-\u001f,
# or \n, \r, \t, \b, \f); DEL may also come raw. `\u00` also matches
# harmless escapes (\u00e9): those bodies merely take the slower path.
_CONTROL_MARKS = (b"\\u00", b"\\n", b"\\r", b"\\t", b"\\b", b"\\f", b"\x7f")


def _plain(body: bytes) -> bool:
    """No control character can be in the body's strings, and it is all UTF-8.

    Other bodies take the validator's path, which checks every string and
    refuses a body with a byte that is not UTF-8, wherever it is: the typed
    decoder here skips unknown keys without looking at their bytes."""
    return not any(mark in body for mark in _CONTROL_MARKS) and is_utf8(body)


def fast_event(body: bytes, now_ms: int) -> IncomingEvent | None:
    """The event of a well-formed single-event body, or None (use the validator)."""
    if not _plain(body):
        return None
    try:
        return _convert(_single.decode(body), now_ms)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def fast_batch(body: bytes, now_ms: int) -> list[IncomingEvent] | None:
    """All events of a batch body if every one is well-formed, else None."""
    if not _plain(body):
        return None
    try:
        batch = _batch.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    events = []
    for f in batch.events:
        ev = _convert(f, now_ms)
        if ev is None:
            return None
        events.append(ev)
    return events
