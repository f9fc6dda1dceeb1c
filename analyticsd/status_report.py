"""Builds the status report, from the running daemon or from a data dir at rest.

One shape for `analyticsd status`, `status --json`, `/api/health` and
`/metrics` (core/status_text.py renders it as lines). `live` adapts the
running daemon's parts to it; `offline` reads a data dir without writing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import trio

from analyticsd import __version__
from analyticsd.actors.salt_rotator import CHECK_EVERY_S
from analyticsd.core.config import Config
from analyticsd.core.errors import AnalyticsdError
from analyticsd.core.spool_record import received_ms_of
from analyticsd.storage.geoip import GeoLookup
from analyticsd.storage.spool import Spool, SpoolStats
from analyticsd.storage.statsdb import StatsReader

if TYPE_CHECKING:  # the wiring imports this module
    from analyticsd.wiring import Parts

SPOOL_DIR = "spool"
AGGREGATOR = "aggregator"
FORWARDER = "forwarder"
# A GeoIP database older than this (about 6 months) is warned about: address
# blocks change hands, and an old file places more and more visitors wrong.
GEOIP_STALE_DAYS = 183
FORWARD_CONFIRMED = "forward-confirmed"


def consumers(config: Config) -> tuple[str, ...]:
    """Who must be past a spool record before it may be deleted."""
    # The forwarder keeps what it sent until the hub confirms it (forwarder.py).
    if config.forward.enabled:
        return (AGGREGATOR, FORWARDER, FORWARD_CONFIRMED)
    return (AGGREGATOR,)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Live:
    """What only a running daemon knows."""

    uptime_s: float
    events_per_s_1m: float
    accepted_total: int
    pending_events: int
    last_flush_ms: int | None
    draining: bool
    open_visits: int = 0
    # Why the spool refuses new events (quota, map or disk full), if it does.
    spool_refusing: str | None = None
    # Why flushes to SQLite fail, until one succeeds.
    store_error: str | None = None
    # The small files that could not be written (salts, session key), why.
    unsaved: tuple[str, ...] = ()
    # The aggregator's memory budget at work (see aggregator.memory_mb).
    memory: dict[str, int] | None = None
    # Distinct values whose rows went to (other) since start (core.value_cap).
    values_folded: int = 0


@dataclass(frozen=True)
class ForwardView:
    """The forwarder's side of the report (None when forwarding is off)."""

    state: str
    since_ms: int | None
    cursor: int
    oldest_unforwarded_ms: int | None
    forwarded_total: int | None = None
    last_error: str = ""
    confirmed: int | None = None
    origin: str = ""
    losses: int = 0
    last_loss_ms: int | None = None
    last_loss: str = ""


@dataclass(frozen=True)
class HubView:
    state: str
    since_ms: int | None
    consumed_total: int
    duplicates_total: int
    dead_lettered_total: int
    claimed_total: int
    last_error: str = ""
    trimmed_total: int = 0
    lag: int | None = None
    pending: int = 0
    lag_read_ms: int | None = None


def _forwarder(fw: ForwardView | None, head: int, now_ms: int) -> dict[str, Any]:
    if fw is None:
        return {
            "state": "disabled",
            "since": None,
            "backlog_events": None,
            "oldest_unforwarded_age_s": None,
        }
    oldest = fw.oldest_unforwarded_ms
    return {
        "state": fw.state,
        "since": iso(fw.since_ms),
        "backlog_events": max(head - fw.cursor, 0),
        "oldest_unforwarded_age_s": (now_ms - oldest) / 1000 if oldest is not None else None,
        "forwarded_seq": fw.cursor,
        "forwarded_total": fw.forwarded_total,
        "last_error": fw.last_error or None,
        "origin": fw.origin or None,
        "confirmed_seq": fw.confirmed,
        "unconfirmed_events": None if fw.confirmed is None else max(fw.cursor - fw.confirmed, 0),
        "loss_detected_total": fw.losses,
        "last_loss_at": iso(fw.last_loss_ms),
        "last_loss": fw.last_loss or None,
    }


def _hub(hub: HubView | None) -> dict[str, Any] | None:
    if hub is None:
        return None
    return {
        "state": hub.state,
        "since": iso(hub.since_ms),
        "consumed_total": hub.consumed_total,
        "duplicates_total": hub.duplicates_total,
        "dead_lettered_total": hub.dead_lettered_total,
        "claimed_total": hub.claimed_total,
        "last_error": hub.last_error or None,
        "trimmed_total": hub.trimmed_total,
        "stream_lag": hub.lag,
        "stream_pending": hub.pending,
        "lag_read_at": iso(hub.lag_read_ms),
    }


def _geoip(geo: dict[str, Any] | None, now_ms: int) -> dict[str, Any] | None:
    """GeoLookup.describe() with the database's build date and age at `now_ms`."""
    if geo is None:
        return None
    epoch = geo.get("build_epoch")
    built, age = None, None
    if isinstance(epoch, int):
        built = datetime.fromtimestamp(epoch, UTC).date().isoformat()
        age = (now_ms / 1000 - epoch) / 86400
    return {
        **{k: v for k, v in geo.items() if k != "build_epoch"},
        "built": built,
        "age_days": round(age, 1) if age is not None else None,
        "stale": age is not None and age > GEOIP_STALE_DAYS,
    }


def _warnings(geoip: dict[str, Any] | None) -> list[str]:
    """What does not stop counting but should be seen to (status, health)."""
    if geoip is None:
        return []
    out = []
    if geoip["error"]:
        out.append(geoip["error"])
    if geoip["stale"]:
        fix = (
            "`make geoip-update` (or a newer package) refreshes the bundled one"
            if geoip["database"] == "bundled"
            else "replace the file with a newer one and reload"
        )
        out.append(
            f"the GeoIP database was built on {geoip['built']}, {geoip['age_days']:.0f} days "
            f"ago (older than 6 months: more and more visitors are placed in the wrong "
            f"country); {fix}"
        )
    return out


def build(
    data_dir: str,
    spool: SpoolStats,
    flushed_seq: int,
    now_ms: int,
    live: Live | None,
    last_flush_ms: int | None = None,
    forward: ForwardView | None = None,
    hub: HubView | None = None,
    geo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    oldest = received_ms_of(spool.oldest_record) if spool.oldest_record else None
    head = spool.next_seq - 1
    problems = _problems(live, data_dir)
    geoip = _geoip(geo, now_ms)
    return {
        "daemon": "running" if live else "down",
        "status": ("draining" if live.draining else "ok") if live else "down",
        "version": __version__,
        "uptime_s": round(live.uptime_s, 1) if live else None,
        "data_dir": os.path.abspath(data_dir),
        # What keeps the daemon from taking or counting events right now, in
        # words (a full disk names its path); empty when all is well.
        "problems": problems,
        # What does not keep it from counting but wants seeing to (an old or
        # unusable GeoIP database).
        "warnings": _warnings(geoip),
        "disk_full": _disk_full(live),
        "spool": {
            "events": spool.events,
            "bytes": spool.size_bytes,
            "quota_bytes": spool.quota_bytes,
            "used_pct": 100.0 * spool.size_bytes / spool.quota_bytes,
            "head_seq": head,
            "oldest_event_age_s": (now_ms - oldest) / 1000 if oldest is not None else None,
            "refusing": live.spool_refusing if live else None,
        },
        "forwarder": _forwarder(forward, head, now_ms),
        "hub": _hub(hub),
        "aggregator": {
            "flushed_seq": flushed_seq,
            "lag_events": max(head - flushed_seq, 0),
            "pending_events": live.pending_events if live else 0,
            "open_visits": live.open_visits if live else 0,
            "last_flush": iso(live.last_flush_ms if live else last_flush_ms),
            "store_error": live.store_error if live else None,
            "memory": live.memory if live else None,
            "values_folded": live.values_folded if live else None,
        },
        "ingest": {
            "events_per_s_1m": live.events_per_s_1m if live else None,
            "accepted_total": live.accepted_total if live else None,
        },
        "geoip": geoip,
    }


def _store_full(live: Live) -> bool:
    return "disk is full" in (live.store_error or "")  # SQLite's SQLITE_FULL text


def _disk_full(live: Live | None) -> bool:
    if live is None:
        return False
    spool = "disk full" in (live.spool_refusing or "")
    return spool or _store_full(live) or any("disk full" in e for e in live.unsaved)


def _problems(live: Live | None, data_dir: str) -> list[str]:
    out = []
    if live is not None and live.spool_refusing:
        out.append(f"new events are refused (503): {live.spool_refusing}")
    if live is not None and live.store_error:
        why = f" (disk full at {os.path.abspath(data_dir)})" if _store_full(live) else ""
        out.append(f"counting is paused{why}, flushes fail: {live.store_error}")
    if live is not None:
        out += [f"not saved, retried every {CHECK_EVERY_S:.0f} s: {e}" for e in live.unsaved]
    return out


def offline(config: Config, now_ms: int) -> dict[str, Any]:
    """Read the data dir without writing to it (the daemon is not running)."""
    data_dir = config.storage.data_dir
    spool_path = os.path.join(data_dir, SPOOL_DIR)
    if not os.path.exists(os.path.join(spool_path, "data.mdb")):
        raise AnalyticsdError(f"no spool in {os.path.abspath(data_dir)} (never started?)")
    spool = Spool(spool_path, config.storage.spool_max_bytes, consumers(config), readonly=True)
    forward = None
    try:
        stats = spool.stats()
        if config.forward.enabled:
            cursor = stats.cursors.get(FORWARDER, 0)
            first = spool.first_after(cursor)
            forward = ForwardView(
                state="down",
                since_ms=None,
                cursor=cursor,
                oldest_unforwarded_ms=received_ms_of(first) if first else None,
            )
    finally:
        spool.close()
    geo = GeoLookup(config.geoip.database, quiet=True)
    try:
        geo_info = geo.describe()
    finally:
        geo.close()
    flushed, last_flush = 0, None
    try:
        reader = StatsReader(data_dir)
        try:
            flushed = reader.meta("last_seq") or 0
            last_flush = reader.meta("last_flush_ms")
        finally:
            reader.close()
    except AnalyticsdError:
        pass  # no SQLite file yet: nothing flushed
    return build(data_dir, stats, flushed, now_ms, None, last_flush, forward, geo=geo_info)


async def live(parts: Parts) -> dict[str, Any]:
    """The report of the running daemon."""
    spool = parts.storage.spool
    stats = await trio.to_thread.run_sync(spool.stats)
    now = trio.current_time()
    st = parts.aggregator.state
    running = Live(
        uptime_s=now - parts.started_at,
        events_per_s_1m=parts.meter.per_second(now),
        accepted_total=parts.meter.total,
        pending_events=st.pending_events,
        last_flush_ms=st.last_flush_ms,
        draining=parts.server.draining,
        open_visits=st.open_sessions,
        spool_refusing=spool.refusing,
        store_error=st.store_error,
        unsaved=_unsaved(parts),
        values_folded=parts.storage.db.folded_values,
        memory={
            "budget_bytes": parts.config.aggregator.memory_mb << 20,
            "resident_bytes": st.resident_bytes,
            "marks_spilled": st.marks_spilled,
            "visits_restored": st.visits_restored,
        },
    )
    rep = build(
        parts.config.storage.data_dir,
        stats,
        st.flushed_seq,
        parts.now_ms(),
        running,
        forward=await _forward_view(parts),
        hub=_hub_view(parts),
        geo=parts.geo.describe(),
    )
    r = parts.reload
    rep["pid"] = os.getpid()
    rep["reload"] = {
        "generation": r.generation,
        "last": iso(r.last_ms),
        "ok": r.ok,
        "error": r.error,
        "changed": r.changed,
        "needs_restart": r.needs_restart,
    }
    return rep


def _unsaved(parts: Parts) -> tuple[str, ...]:
    salts, key = parts.storage.salts.error, parts.storage.session_key.error
    return tuple(
        e
        for e in (
            f"visitor salts ({salts})" if salts else None,
            f"dashboard session key, sign-ins end at a restart ({key})" if key else None,
        )
        if e
    )


async def _forward_view(parts: Parts) -> ForwardView | None:
    if parts.forwarder is None:
        return None
    fw = parts.forwarder.state
    first = await trio.to_thread.run_sync(parts.storage.spool.first_after, fw.cursor)
    return ForwardView(
        state=str(fw.link.state),
        since_ms=fw.link.since_ms,
        cursor=fw.cursor,
        oldest_unforwarded_ms=received_ms_of(first) if first else None,
        forwarded_total=fw.forwarded,
        last_error=fw.link.last_error,
        confirmed=fw.confirmed,
        origin=fw.origin,
        losses=fw.losses,
        last_loss_ms=fw.last_loss_ms,
        last_loss=fw.last_loss,
    )


def _hub_view(parts: Parts) -> HubView | None:
    if parts.hub is None:
        return None
    h = parts.hub.state
    return HubView(
        state=str(h.link.state),
        since_ms=h.link.since_ms,
        consumed_total=h.consumed,
        duplicates_total=h.duplicates,
        dead_lettered_total=h.dead_lettered,
        claimed_total=h.claimed,
        last_error=h.link.last_error,
        trimmed_total=h.trimmed,
        lag=h.lag,
        pending=h.pending,
        lag_read_ms=h.lag_read_ms,
    )
