"""`analyticsd backfill --site S FILE.ndjson`: a file of past events sent to
the running daemon's `/api/backfill` (http/backfill.py), with a progress bar;
`analyticsd recompute --site S --from D --to D`: days rebuilt by the daemon.

Why through the daemon: the spool and the statistics store have one writer
each, the daemon's; the events then take the path of live ones (spool,
enricher, aggregator), so they are counted exactly once however ingest and
flushes go meanwhile.

The whole file is checked here first, with the daemon's own rules
(core.backfill): any bad line and every bad line is listed with its
number, nothing is sent, exit 1. Then it goes in requests of at most
MAX_LINES lines (and `server.max_body_bytes`), each stored all or nothing.
A run cut short (Ctrl-C, a full spool) is completed by running it again:
the events already stored are duplicates and not counted twice.

The token: `--token`, else $ANALYTICSD_TOKEN, else the first unscoped
token of `[api] tokens`, else the data dir's first token (api.token).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime

from analyticsd import control
from analyticsd.core import backfill
from analyticsd.core.buckets import day_label, day_number, zone
from analyticsd.core.config import Config
from analyticsd.core.errors import AnalyticsdError, DaemonUnreachable
from analyticsd.core.recount import day_refusal
from analyticsd.import_command import progress_bar
from analyticsd.storage.access_files import TOKEN_FILE

TOKEN_ENV = "ANALYTICSD_TOKEN"
SEND_TIMEOUT_S = 60.0
# A recompute request is answered when its day is rebuilt: a day of a busy
# site is millions of per-event rows counted again.
RECOMPUTE_TIMEOUT_S = 1800.0
# A full spool answers 503: wait and try the same request again, this often.
RETRIES = 20
RETRY_WAIT_S = 2.0
SHOWN_PROBLEMS = 50


@dataclass
class Totals:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0


def token_for(cfg: Config, given: str | None) -> str:
    if given:
        return given
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    for grant in cfg.api.grants():
        if grant.sites is None:
            return grant.token
    path = os.path.join(cfg.storage.data_dir, TOKEN_FILE)
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        raise AnalyticsdError(
            f"no API token: give --token or ${TOKEN_ENV}, or add one to [api] tokens"
        ) from None


def chunks(lines: list[bytes], max_bytes: int) -> list[tuple[int, list[bytes]]]:
    """(first line number, lines) per request: at most MAX_LINES lines and
    `max_bytes` bytes each (a longer single line is refused before)."""
    out: list[tuple[int, list[bytes]]] = []
    start, size = 0, 0
    for i, line in enumerate(lines):
        if i > start and (i - start >= backfill.MAX_LINES or size + len(line) + 1 > max_bytes):
            out.append((start + 1, lines[start:i]))
            start, size = i, 0
        size += len(line) + 1
    if start < len(lines):
        out.append((start + 1, lines[start:]))
    return out


def check_file(cfg: Config, site_id: str, lines: list[bytes], now_ms: int) -> list[str]:
    limit = cfg.server.max_body_bytes - 1
    problems = [
        f"line {i + 1}: longer than server.max_body_bytes ({cfg.server.max_body_bytes})"
        for i, line in enumerate(lines)
        if len(line) > limit
    ]
    parsed = backfill.parse_lines(lines, 1, site_id, now_ms, cfg.storage.raw_event_retention_days)
    return problems + parsed.problems


def _post(
    address: str, path: str, token: str, body: bytes, timeout: float = SEND_TIMEOUT_S
) -> tuple[int, dict[str, object]]:
    conn = control.connection(address, timeout)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        raise DaemonUnreachable(f"no answer from the daemon on {address}: {e}") from e
    finally:
        conn.close()
    try:
        payload = json.loads(data)
    except ValueError:
        payload = {"message": [data[:200].decode(errors="replace")]}
    return resp.status, payload if isinstance(payload, dict) else {}


def send(address: str, token: str, site: str, first: int, part: list[bytes]) -> dict[str, object]:
    path = f"/api/backfill?site={site}&first_line={first}"
    body = b"\n".join(part)
    for _ in range(RETRIES):
        status, payload = _post(address, path, token, body)
        if status == 202:
            return payload
        if status != 503:
            msgs = payload.get("message") or [f"HTTP {status}"]
            text = "; ".join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))
            raise AnalyticsdError(
                f"the daemon refused lines {first}-{first + len(part) - 1}: {text}"
            )
        time.sleep(RETRY_WAIT_S)  # a full spool drains as the aggregator counts
    raise AnalyticsdError(f"the daemon kept answering 503 for lines from {first}; run again later")


def run_backfill(
    cfg: Config, target: control.Target, site_id: str, path: str, token: str | None
) -> int:
    site = cfg.site(site_id)
    if site is None:
        raise AnalyticsdError(f"--site {site_id!r} is not a configured site")
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError as e:
        raise AnalyticsdError(f"cannot read {path}: {e.strerror or e}") from e
    while lines and not lines[-1].strip():
        lines.pop()
    problems = check_file(cfg, site.id, lines, int(time.time() * 1000))
    if problems:
        print(f"analyticsd: {path}: {len(problems)} problem(s), nothing sent:", file=sys.stderr)
        for p in problems[:SHOWN_PROBLEMS]:
            print(f"  {p}", file=sys.stderr)
        if len(problems) > SHOWN_PROBLEMS:
            print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more", file=sys.stderr)
        return 1
    address = daemon_address(target)
    secret = token_for(cfg, token)
    totals = Totals()
    tty = sys.stderr.isatty()
    show = progress_bar(tty)
    try:
        for first, part in chunks(lines, cfg.server.max_body_bytes):
            answer = send(address, secret, site.id, first, part)
            totals.lines += len(part)
            totals.stored += int(str(answer.get("stored", 0)))
            totals.duplicates += int(str(answer.get("duplicates", 0)))
            show(totals.lines, len(lines), f"line {totals.lines}")
    finally:
        if tty:
            print(file=sys.stderr)
    print(
        f"backfilled {site.id}: {totals.stored} events stored, {totals.duplicates} already "
        f"there (same eventId), from {len(lines)} lines; counted at the next flush"
    )
    return 0


def daemon_address(target: control.Target) -> str:
    """The running daemon's public listener (backfill is served there, with a token)."""
    asked = control.ask(target)
    if asked is None:
        raise DaemonUnreachable(
            f"no running analyticsd answers for {target.data_dir or target.source}"
        )
    report = asked[0]
    listen = target.record.listen if target.record is not None else ""
    if not listen and target.config is not None:
        listen = target.config.server.listen
    if not listen:
        raise DaemonUnreachable(f"the daemon's listener is unknown ({report.get('pid')})")
    return listen


def run_recompute(
    cfg: Config, target: control.Target, site_id: str, first: str, last: str, token: str | None
) -> int:
    """`analyticsd recompute --site S --from D --to D`: each day rebuilt by
    the daemon in one transaction, in date order, with a progress bar. Every
    day is checked before the first is touched; a day the daemon refuses
    stops the run there (the days before it are rebuilt, that one and the
    rest are unchanged) with exit 1."""
    site = cfg.site(site_id)
    if site is None:
        raise AnalyticsdError(f"--site {site_id!r} is not a configured site")
    try:
        lo, hi = day_number(first), day_number(last)
    except ValueError:
        raise AnalyticsdError("--from and --to must be dates like 2026-11-23") from None
    if lo > hi:
        raise AnalyticsdError("--from must not be after --to")
    today = day_number(datetime.now(zone(site.timezone)).date().isoformat())
    retention = cfg.storage.raw_event_retention_days
    refused = [why for d in range(lo, hi + 1) if (why := day_refusal(d, today, retention))]
    if refused:
        raise AnalyticsdError(f"nothing rebuilt: {refused[0]}")
    address = daemon_address(target)
    secret = token_for(cfg, token)
    tty = sys.stderr.isatty()
    show = progress_bar(tty)
    events = 0
    try:
        for n, d in enumerate(range(lo, hi + 1), 1):
            path = f"/api/recompute?site={site.id}&date={day_label(d)}"
            status, payload = _post(address, path, secret, b"", RECOMPUTE_TIMEOUT_S)
            if status != 200:
                msgs = payload.get("message") or [f"HTTP {status}"]
                text = "; ".join(str(m) for m in (msgs if isinstance(msgs, list) else [msgs]))
                done = f"{n - 1} day(s) before it rebuilt" if n > 1 else "nothing rebuilt"
                raise AnalyticsdError(f"{text} ({done})")
            events += int(str(payload.get("events", 0)))
            show(n, hi - lo + 1, day_label(d))
    finally:
        if tty:
            print(file=sys.stderr)
    print(
        f"recomputed {site.id} {day_label(lo)} to {day_label(hi)}: {hi - lo + 1} day(s) "
        f"from {events} per-event rows, with the goals configured now"
    )
    return 0
