"""Ingest endpoints: `POST /api/event`, `POST /api/batch` and their CORS preflights.

Invariant: `202` is sent only after the spool writer reports the records
committed and fsynced. Every rejection is a 4xx (or 503 when we cannot keep
the event) with a message saying what is wrong, and stores nothing.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

import msgspec

from analyticsd.core.config import Config, SiteConfig
from analyticsd.core.errors import (
    BodyError,
    ForwardedForError,
    NoSalt,
    SaltStoreError,
    ShuttingDown,
    SpoolError,
    SpoolFull,
)
from analyticsd.core.fastpath import MAX_BATCH, fast_batch, fast_event
from analyticsd.core.ingest import IncomingEvent, decode_body, validate_event
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.core.metrics import Metrics
from analyticsd.core.netaddr import client_ip, parse_networks
from analyticsd.core.spool_record import record_bytes, shared_fields
from analyticsd.http.client_facts import ClientProfiler, Facts
from analyticsd.http.responses import Headers, HttpResponse, error_response, json_response

# Longer user agents are classified as bots on their first MAX_UA characters.
MAX_UA = 1100
RETRY_FULL_S = b"30"
RETRY_SHUTDOWN_S = b"5"
INGEST_PATHS = frozenset({"/api/event", "/api/batch"})
_ACCEPTED_TYPES = (b"application/json", b"text/plain", b"")


class RequestHeaders:
    """A request's header fields: names lowercase, every field line kept in order.

    `get` reads a field's lines combined the way RFC 9110 §5.3 allows (values
    comma-joined in order): a list field sent on two lines, such as
    X-Forwarded-For, reads as one list; a repeated singleton (Origin,
    Content-Type) reads as a combined value that matches nothing and is refused.
    """

    __slots__ = ("_combined", "_lines")

    def __init__(self, lines: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self._lines: list[tuple[bytes, bytes]] = []
        self._combined: dict[bytes, bytes] = {}
        for name, value in lines:
            self.add(name, value)

    def add(self, name: bytes, value: bytes) -> None:
        """Append one field line; `name` is already lowercase."""
        self._lines.append((name, value))
        old = self._combined.get(name)
        self._combined[name] = value if old is None else old + b", " + value

    @overload
    def get(self, name: bytes) -> bytes | None: ...
    @overload
    def get(self, name: bytes, default: bytes) -> bytes: ...
    def get(self, name: bytes, default: bytes | None = None) -> bytes | None:
        """The field's value, its lines combined; `default` if it is absent."""
        return self._combined.get(name, default)

    def get_all(self, name: bytes) -> list[bytes]:
        """Each line's value of the field, in the order received."""
        return [v for n, v in self._lines if n == name]

    def lines(self) -> list[tuple[bytes, bytes]]:
        """Every field line as (name, value), in the order received."""
        return list(self._lines)

    def __contains__(self, name: object) -> bool:
        return name in self._combined

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RequestHeaders) and self._lines == other._lines

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"RequestHeaders({self._lines!r})"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # origin-form (`/path?query`), also for an absolute-form target
    headers: RequestHeaders
    body: bytes
    peer: str


@dataclass(frozen=True)
class _Rejected:
    status: int
    messages: list[str]
    reason: str  # the metrics label


class _Client(NamedTuple):
    """The request's client; ip and ua live only as long as the request."""

    ip: str
    ua: str
    facts: Facts


class IngestHandler:
    def __init__(
        self,
        config: Config,
        submit: Callable[[Append], Awaitable[None]],
        profiler: ClientProfiler,
        now_ms: Callable[[], int],
        on_accepted: Callable[[int], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.apply_sites(config.sites)
        self._trusted = parse_networks(config.server.trusted_proxies)
        self._submit = submit
        self._profiler = profiler
        self._now_ms = now_ms
        self._on_accepted = on_accepted
        self.metrics = metrics or Metrics()
        self.draining = False

    def apply_sites(self, sites: tuple[SiteConfig, ...]) -> None:
        """The sites and origins in force (replaced whole on a config reload)."""
        self._sites = {s.id: s for s in sites}
        self._all_origins = frozenset(o for s in sites for o in s.origins)

    # -- CORS --------------------------------------------------------------

    def _cors(self, origin: bytes | None, site: SiteConfig | None = None) -> Headers:
        if origin is None:
            return []
        text = origin.decode("latin-1")
        allowed = site.origins if site is not None else self._all_origins
        if text in allowed or "*" in allowed:
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        return []

    def _origin_ok(self, origin: bytes | None, site: SiteConfig) -> bool:
        if origin is None:  # not a browser cross-origin request (curl, server-side)
            return True
        return origin.decode("latin-1") in site.origins or "*" in site.origins

    def preflight(self, req: Request) -> HttpResponse:
        origin = req.headers.get(b"origin")
        cors = self._cors(origin)
        if origin is None or not cors:
            return error_response(403, "origin is not allowed for any configured site")
        return HttpResponse(
            204,
            b"",
            [
                *cors,
                (b"access-control-allow-methods", b"POST, OPTIONS"),
                (b"access-control-allow-headers", b"Content-Type"),
                (b"access-control-max-age", b"86400"),
            ],
        )

    # -- requests ----------------------------------------------------------

    def _refuse(self, reason: str, n: int = 1) -> None:
        self.metrics.events_rejected[reason] += n

    async def handle(self, req: Request) -> HttpResponse:
        if req.method == "OPTIONS":
            return self.preflight(req)
        if req.method != "POST":
            self._refuse("method")
            return error_response(
                405, f"{req.path} accepts POST only", [(b"allow", b"POST, OPTIONS")]
            )
        origin = req.headers.get(b"origin")
        if self.draining:
            self._refuse("shutting_down")
            return error_response(
                503,
                "the daemon is shutting down; retry shortly",
                [(b"retry-after", RETRY_SHUTDOWN_S), *self._cors(origin)],
            )
        ctype = req.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if ctype not in _ACCEPTED_TYPES:
            self._refuse("content_type")
            return error_response(
                415, "Content-Type must be application/json or text/plain", self._cors(origin)
            )
        try:
            ip = client_ip(req.peer, _header(req, b"x-forwarded-for"), self._trusted)
        except ForwardedForError as e:
            self._refuse("invalid")
            return error_response(400, str(e), self._cors(origin))
        ua = (_header(req, b"user-agent") or "")[:MAX_UA]
        client = _Client(ip, ua, self._profiler.facts(ip, ua, _header(req, b"accept-language")))
        try:
            if req.path == "/api/batch":
                return await self._batch(req.body, origin, client)
            return await self._single(req.body, origin, client)
        except (NoSalt, SaltStoreError) as e:
            # No salt for the day and none can be stored (a first start on
            # a full disk): a visitor id made now would change at the next
            # start, so the event is refused like any other on a full disk.
            self._refuse("no_salt")
            return error_response(
                503,
                f"event not stored: {e}; retry later",
                [(b"retry-after", RETRY_FULL_S), *self._cors(origin)],
            )

    def _check(
        self, obj: Any, origin: bytes | None, now_ms: int
    ) -> _Rejected | tuple[IncomingEvent, SiteConfig]:
        result = obj if isinstance(obj, IncomingEvent) else validate_event(obj, now_ms)
        if isinstance(result, list):
            return _Rejected(400, result, "invalid")
        site = self._sites.get(result.site_id)
        if site is None and result.site_id.startswith("www."):
            # Plausible's sites have no "www.": its trackers on www.example.com
            # send d=www.example.com (or the page's hostname) for example.com.
            site = self._sites.get(result.site_id[4:])
            if site is not None:
                result = msgspec.structs.replace(result, site_id=site.id)
        if site is None:
            return _Rejected(
                403, [f"siteId {result.site_id!r} is not a configured site"], "unknown_site"
            )
        if not self._origin_ok(origin, site):
            shown = origin.decode("latin-1") if origin else ""
            return _Rejected(
                403, [f"origin {shown!r} is not allowed for site {site.id!r}"], "origin"
            )
        return result, site

    def _prepare(
        self,
        ev: IncomingEvent,
        client: _Client,
        now_ms: int,
        visitors: dict[str, tuple[str, bytes]],
    ) -> tuple[PendingRecord, str]:
        """The record to store and the visitor id to answer with."""
        event_id = ev.event_id or mint_event_id()
        # One request comes from one client: hash once per site, and encode
        # what its records share once, not per event.
        ids = visitors.get(ev.site_id)
        if ids is None:
            tz = self._sites[ev.site_id].timezone
            visitor, prev = self._profiler.visitors(ev.site_id, tz, client.ip, client.ua, now_ms)
            f = client.facts
            ids = (visitor, shared_fields(now_ms, visitor, prev, f.client, f.geo, f.lang))
            visitors[ev.site_id] = ids
        record = record_bytes(event_id, ids[1], ev)
        # The client chose the eventId: it may send it again, so it is indexed.
        return PendingRecord(event_id, record, ev.event_id is not None), ids[0]

    async def _store(self, accepted: list[PendingRecord], cors: Headers) -> HttpResponse | None:
        op = Append(accepted)
        try:
            await self._submit(op)
        except SpoolFull as e:
            self._refuse("spool_full", len(accepted))
            return error_response(503, str(e), [(b"retry-after", RETRY_FULL_S), *cors])
        except ShuttingDown as e:
            self._refuse("shutting_down", len(accepted))
            return error_response(503, str(e), [(b"retry-after", RETRY_SHUTDOWN_S), *cors])
        except SpoolError as e:
            self._refuse("spool_error", len(accepted))
            return error_response(
                503, f"event not stored: {e}", [(b"retry-after", RETRY_SHUTDOWN_S), *cors]
            )
        new = sum(op.stored)
        self.metrics.events_acknowledged += new
        self.metrics.events_duplicate += len(op.stored) - new
        self._on_accepted(new)
        return None

    async def _single(self, body: bytes, origin: bytes | None, client: _Client) -> HttpResponse:
        now_ms = self._now_ms()
        self.metrics.events_received += 1
        obj: Any = fast_event(body, now_ms)
        if obj is None:  # not plainly well-formed: the validator says why
            try:
                obj = decode_body(body)
            except BodyError as e:
                self._refuse("invalid")
                return error_response(400, str(e), self._cors(origin))
        checked = self._check(obj, origin, now_ms)
        if isinstance(checked, _Rejected):
            self._refuse(checked.reason)
            return error_response(checked.status, checked.messages, self._cors(origin))
        ev, site = checked
        cors = self._cors(origin, site)
        record, visitor = self._prepare(ev, client, now_ms, {})
        failed = await self._store([record], cors)
        if failed is not None:
            return failed
        return json_response(
            202, {"success": True, "eventId": record.event_id, "visitorId": visitor}, cors
        )

    async def _batch(self, body: bytes, origin: bytes | None, client: _Client) -> HttpResponse:
        cors = self._cors(origin)
        now_ms = self._now_ms()
        events: list[Any] | None = fast_batch(body, now_ms)
        if events is None:  # not plainly well-formed: validate item by item
            try:
                obj = decode_body(body)
            except BodyError as e:
                self.metrics.events_received += 1
                self._refuse("invalid")
                return error_response(400, str(e), cors)
            events = obj.get("events") if isinstance(obj, dict) else None
            if not isinstance(events, list) or not events or len(events) > MAX_BATCH:
                self.metrics.events_received += 1
                self._refuse("invalid")
                if not isinstance(events, list) or not events:
                    return error_response(400, "events must be a non-empty array", cors)
                return error_response(400, f"events must hold at most {MAX_BATCH} items", cors)
        self.metrics.events_received += len(events)
        accepted: list[tuple[int, PendingRecord, str]] = []
        visitors: dict[str, tuple[str, bytes]] = {}
        rejected: list[dict[str, Any]] = []
        for i, item in enumerate(events):
            checked = self._check(item, origin, now_ms)
            if isinstance(checked, _Rejected):
                self._refuse(checked.reason)
                rejected.append(
                    {"index": i, "statusCode": checked.status, "message": checked.messages}
                )
                continue
            record, visitor = self._prepare(checked[0], client, now_ms, visitors)
            accepted.append((i, record, visitor))
        if not accepted:
            return json_response(
                400,
                {
                    "statusCode": 400,
                    "error": "Bad Request",
                    "message": ["no event in the batch is valid"],
                    "rejected": rejected,
                },
                cors,
            )
        failed = await self._store([r for _, r, _ in accepted], cors)
        if failed is not None:
            return failed
        return json_response(
            202,
            {
                "success": True,
                "accepted": [
                    {"index": i, "eventId": r.event_id, "visitorId": v} for i, r, v in accepted
                ],
                "rejected": rejected,
            },
            cors,
        )


def mint_event_id() -> str:
    """A random (version 4) UUID for an event that came without one.

    Not uuid.uuid4(): that reads os.urandom per call, which measured ~20 us a
    call under load here. Event ids need uniqueness, not secrecy, and 122
    bits from a generator seeded by the OS are plenty for that.
    """
    n = (_random.getrandbits(128) & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_random = random.Random()  # seeded from os.urandom at import


def _header(req: Request, name: bytes) -> str | None:
    value = req.headers.get(name)
    return None if value is None else value.decode("latin-1")
