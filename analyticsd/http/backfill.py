"""`POST /api/backfill?site=S&first_line=N`: past events into a site's statistics;
`POST /api/recompute?site=S&date=YYYY-MM-DD`: one day's rollups rebuilt.

The body is NDJSON, one event per line (core.backfill says what a line
holds). Invariants:
* Authenticated: an unscoped API token (`[api] tokens` entry without
  `sites`, or the data dir's first token), as a Bearer header only. A
  scoped token reads one site's numbers; writing history is the
  operator's. The public beacon endpoints never accept what this path does.
* All or nothing per request: any bad line and the answer is 400 naming
  every bad line (numbered from `first_line`), and nothing is stored.
* Exactly once: the accepted lines go into the spool in one fsynced Append
  with their eventIds indexed, like beacons, and from there through the
  enricher and the aggregator as every live event does; so a backfill
  racing ongoing ingest and flushes has one writer and the same crash
  guarantees. An eventId the spool or the per-event rows already hold is
  not stored again (the answer counts it as a duplicate).
* Recompute is the aggregator's to do (storage/recompute.py): the route
  checks the day, hands it the day with the goals configured now, and
  answers when the day's transaction committed (200) or was refused (409,
  nothing changed). Days before the per-event retention are refused: their
  rows are gone, and a rebuild from what is left would undercount.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core import backfill
from analyticsd.core.access import Grant
from analyticsd.core.buckets import day_label, day_number
from analyticsd.core.config import Config
from analyticsd.core.enrich import rules_for
from analyticsd.core.errors import ShuttingDown, SpoolError, SpoolFull, StatsStoreError
from analyticsd.core.messages import Append, PendingRecord, Recomputed, RecomputeDay
from analyticsd.core.recount import day_refusal
from analyticsd.http.access import AccessDeps, request_grant

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    503: "Service Unavailable",
}
KnownIds = Callable[[str, Iterable[tuple[int, str]]], Awaitable[set[str]]]


@dataclass(frozen=True)
class BackfillDeps:
    config: Callable[[], Config]
    access: AccessDeps
    submit: Callable[[Append], Awaitable[None]]
    known: KnownIds
    key: Callable[[], bytes]
    now_ms: Callable[[], int]
    on_accepted: Callable[[int], None]
    recompute: Callable[[RecomputeDay], Awaitable[Recomputed]]
    today: Callable[[str], int]  # the local day number in a timezone


def _answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    resp = Response(msgspec.json.encode(payload), status=status, content_type="application/json")
    resp.headers.update(headers or {})
    return resp


def _error(
    status: int, messages: list[str] | str, headers: dict[str, str] | None = None
) -> Response:
    msgs = [messages] if isinstance(messages, str) else messages
    reason = _REASONS.get(status, "Error")
    return _answer(status, {"statusCode": status, "message": msgs, "error": reason}, headers)


def _operator(deps: BackfillDeps) -> Response | None:
    grant = request_grant(deps.access)
    if not isinstance(grant, Grant):
        status, message, headers = grant
        return _error(status, message, headers)
    if grant.sites is not None or grant.shared:
        return _error(403, "this writes history: it needs an API token without a `sites` scope")
    return None


def register(app: QuartTrio, deps: BackfillDeps) -> None:
    @app.post("/api/backfill")
    async def backfill_route() -> Response:
        refused = _operator(deps)
        if refused is not None:
            return refused
        cfg = deps.config()
        site = cfg.site(request.args.get("site", ""))
        if site is None:
            return _error(404, f"site {request.args.get('site', '')!r} is not a configured site")
        first = request.args.get("first_line", "1")
        if not first.isdigit():
            return _error(400, "first_line must be a line number")
        body = await request.get_data(as_text=False)
        assert isinstance(body, bytes)
        lines = body.split(b"\n")
        if len(lines) > backfill.MAX_LINES + 1:
            return _error(413, f"at most {backfill.MAX_LINES} lines per request")
        now = deps.now_ms()
        parsed = backfill.parse_lines(
            lines, int(first), site.id, now, cfg.storage.raw_event_retention_days
        )
        if parsed.problems:
            return _error(400, parsed.problems)
        return await _store(deps, site.id, site.timezone, parsed, now)


def register_recompute(app: QuartTrio, deps: BackfillDeps) -> None:
    @app.post("/api/recompute")
    async def recompute_route() -> Response:
        refused = _operator(deps)
        if refused is not None:
            return refused
        cfg = deps.config()
        site = cfg.site(request.args.get("site", ""))
        if site is None:
            return _error(404, f"site {request.args.get('site', '')!r} is not a configured site")
        try:
            day = day_number(request.args.get("date", ""))
        except ValueError:
            return _error(400, "date must be YYYY-MM-DD")
        why = day_refusal(day, deps.today(site.timezone), cfg.storage.raw_event_retention_days)
        if why is not None:
            return _error(409, why)
        req = RecomputeDay(site.id, day, site.timezone, rules_for(cfg.sites).get(site.id))
        done = await deps.recompute(req)
        if done.error is not None:
            return _error(409, f"{day_label(day)} not rebuilt, nothing changed: {done.error}")
        return _answer(200, {"success": True, "date": day_label(day), "events": done.events})


async def _store(
    deps: BackfillDeps, site: str, tz: str, parsed: backfill.Parsed, now: int
) -> Response:
    events = parsed.events
    try:
        known = await deps.known(
            site, [(e.event.timestamp_ms, e.event.event_id or "") for e in events]
        )
        key = deps.key()
    except StatsStoreError as e:
        return _error(503, f"nothing stored: {e}", {"Retry-After": "5"})
    # In time order, so a visitor's events make visits as they would live.
    fresh = sorted(
        (e for e in events if e.event.event_id not in known), key=lambda e: e.event.timestamp_ms
    )
    op = Append(
        [PendingRecord(e.event.event_id or "", backfill.encoded(e, key, tz, now)) for e in fresh]
    )
    if fresh:
        try:
            await deps.submit(op)
        except SpoolFull as e:
            return _error(503, f"nothing stored: {e}", {"Retry-After": "30"})
        except (ShuttingDown, SpoolError) as e:
            return _error(503, f"nothing stored: {e}", {"Retry-After": "5"})
    stored = sum(op.stored)
    deps.on_accepted(stored)
    duplicates = len(events) - stored + parsed.repeated
    return _answer(202, {"success": True, "stored": stored, "duplicates": duplicates})
