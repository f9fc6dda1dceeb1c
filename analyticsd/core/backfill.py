"""Backfill lines: one NDJSON line → one validated past event and its spool record (pure).

A backfill file brings events of any past date into a site's statistics
through the authenticated `/api/backfill` (never the public beacon
endpoints). Each line is checked exactly as ingest checks an event
(core.ingest.validate_event); only the 7-day age limit is lifted, and
replaced by the site's per-event retention:

* Why a retention limit instead of none: a backfilled event is deduplicated
  by its eventId, for the first days by the spool's index and then by its
  per-event row. Per-event rows older than `raw_event_retention_days` are
  pruned, so an older event could be counted twice by a second backfill of
  the same file; it is refused instead (raise the retention to backfill
  further back). The same horizon refuses it later, once its row is pruned.
* Every line must carry an `eventId` (the dedupe key) and a `timestamp`,
  and a `visitorId` (or `userId`): an opaque client-side id of the visitor.
  The stored visitor id is a keyed hash of (site, the event's local day,
  that id), so visitors are unique per day as for live traffic, and the id
  itself is never stored. There is no IP or user agent to hash: a line that
  carries one (`ip`, `userAgent`) is refused, so it cannot reach storage by
  mistake (SPEC §2.4). Already derived facts may be given instead:
  `country` (ISO code), `region`, `city`, `browser`, `os`, `device`.
* Duplicates within the file: the later lines with an eventId seen before
  are dropped here (`Parsed.repeated`); the spool drops any already stored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from analyticsd.core.buckets import buckets, day_range_ms
from analyticsd.core.errors import BodyError
from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import ENGAGEMENT, IncomingEvent, decode_body, validate_event
from analyticsd.core.sessions import SESSION_GAP_MS
from analyticsd.core.spool_record import Record, encode
from analyticsd.core.useragent import DESKTOP, MOBILE, TABLET, ClientInfo

DAY_MS = 86_400_000
# Lines per request the CLI sends, at most (each request is one spool
# transaction: stored together or not at all).
MAX_LINES = 500
MAX_REF = 256
MAX_FACT = 64
# Fields a line must not carry: what would let a raw IP or user agent in.
_FORBIDDEN = ("ip", "ipAddress", "remoteAddr", "userAgent", "user_agent", "ua")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DEVICES = (DESKTOP, MOBILE, TABLET)


@dataclass(frozen=True)
class BackfillEvent:
    line: int  # 1-based, in the whole file
    event: IncomingEvent
    visitor_ref: str
    client: ClientInfo
    geo: GeoInfo


@dataclass
class Parsed:
    events: list[BackfillEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: message"
    repeated: int = 0  # lines whose eventId an earlier line had


def parse_lines(
    lines: list[bytes],
    first_line: int,
    site_id: str,
    now_ms: int,
    retention_days: int,
    seen: set[str] | None = None,
) -> Parsed:
    """Check every line (blank lines are skipped); `seen` carries the
    eventIds of earlier chunks of the same file."""
    out = Parsed()
    seen = set() if seen is None else seen
    max_age = retention_days * DAY_MS
    for i, raw in enumerate(lines):
        n = first_line + i
        if not raw.strip():
            continue
        result = check_line(raw, site_id, now_ms, max_age)
        if isinstance(result, list):
            out.problems += [f"line {n}: {m}" for m in result]
            continue
        eid = result[0].event_id or ""
        if eid in seen:
            out.repeated += 1
            continue
        seen.add(eid)
        out.events.append(BackfillEvent(n, *result))
    return out


def check_line(
    raw: bytes, site_id: str, now_ms: int, max_age_ms: int
) -> tuple[IncomingEvent, str, ClientInfo, GeoInfo] | list[str]:
    """One line's event, visitor reference and derived facts, or its problems."""
    try:
        obj: Any = decode_body(raw)
    except BodyError as e:
        return [str(e)]
    if not isinstance(obj, dict):
        return ["a line must be a JSON object"]
    problems = [
        f"{k} must not be sent: no raw IP or user agent is stored" for k in _FORBIDDEN if k in obj
    ]
    facts = {
        k: obj.pop(k)
        for k in ("visitorId", "country", "region", "city", "browser", "os", "device")
        if k in obj
    }
    obj.setdefault("siteId", site_id)
    result = validate_event(obj, now_ms, max_age_ms)
    if isinstance(result, list):
        problems += result
    elif result.site_id != site_id:
        problems.append(f"siteId {result.site_id!r} is not the site backfilled ({site_id!r})")
    if not isinstance(result, list) and result.event_type == ENGAGEMENT:
        problems.append("engagement events cannot be backfilled (they extend a live visit)")
    if "eventId" not in obj:
        problems.append("eventId is required (backfilled events are deduplicated by it)")
    if "timestamp" not in obj:
        problems.append("timestamp is required")
    ref = facts.get("visitorId", obj.get("userId"))
    if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_REF:
        problems.append(
            f"visitorId (or userId) must be a non-empty string of at most {MAX_REF} characters"
        )
    client, geo, fact_problems = _facts(facts)
    problems += fact_problems
    if problems or isinstance(result, list):
        return problems
    assert isinstance(ref, str)
    return result, ref, client, geo


def _facts(facts: dict[str, Any]) -> tuple[ClientInfo, GeoInfo, list[str]]:
    problems: list[str] = []
    text: dict[str, str] = {}
    for k in ("country", "region", "city", "browser", "os", "device"):
        v = facts.get(k)
        if v is None:
            text[k] = ""
        elif not isinstance(v, str) or len(v) > MAX_FACT or any(ord(c) < 32 for c in v):
            problems.append(f"{k} must be a string of at most {MAX_FACT} characters")
            text[k] = ""
        else:
            text[k] = v
    if text["country"] and not _COUNTRY.match(text["country"]):
        problems.append("country must be an ISO 3166-1 alpha-2 code, e.g. DE")
    if text["device"] and text["device"] not in _DEVICES:
        problems.append(f"device must be one of {', '.join(_DEVICES)}")
    client = ClientInfo(text["browser"], "", text["os"], "", text["device"], False)
    return client, GeoInfo(text["country"], text["region"], text["city"]), problems


def visitor_id(key: bytes, site_id: str, day: int, ref: str) -> str:
    """The stored visitor id: keyed, and new every local day (as the daily salt makes it)."""
    h = hashlib.blake2b(digest_size=8, key=key, person=b"backfill")
    h.update(f"{site_id}\0{day}\0{ref}".encode())
    return h.hexdigest()


def record(ev: BackfillEvent, key: bytes, tz_name: str, received_ms: int) -> Record:
    """The spool record of a backfilled event. In the first 30 minutes of a
    local day it also carries the previous day's id, so a visit across
    midnight stays one visit (as the receiver does with yesterday's salt)."""
    e = ev.event
    _, day = buckets(e.timestamp_ms, tz_name)
    visitor = visitor_id(key, e.site_id, day, ev.visitor_ref)
    start, _ = day_range_ms(day, tz_name)
    prev = visitor_id(key, e.site_id, day - 1, ev.visitor_ref)
    prev = prev if e.timestamp_ms - start <= SESSION_GAP_MS else ""
    eid = e.event_id or ""
    return Record(eid, received_ms, visitor, prev, ev.client, ev.geo, "", None, (), e)


def encoded(ev: BackfillEvent, key: bytes, tz_name: str, received_ms: int) -> bytes:
    return encode(record(ev, key, tz_name, received_ms))
