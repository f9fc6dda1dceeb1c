"""Building the daemon's parts from one configuration.

`build` opens the storage (spool, salts, SQLite), makes every actor and the
HTTP side, and hands back `Parts`: plain references, nothing started. The
supervisor (supervisor.py) runs them; the reloader (reloader.py) changes
what a reload may change. Each actor gets its own config section and the
callables it needs, never the whole `Parts`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import trio

from analyticsd import status_report
from analyticsd.actors.aggregator import Aggregator
from analyticsd.actors.enricher import Enricher
from analyticsd.actors.forwarder import Forwarder
from analyticsd.actors.hub import Hub
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.access import Grant
from analyticsd.core.aggregate import day_number
from analyticsd.core.buckets import zone
from analyticsd.core.config import Config, ForwardConfig, admin_address, link_grants
from analyticsd.core.heartbeat import Heartbeats
from analyticsd.core.messages import DayStats
from analyticsd.core.metrics import Metrics, exposition
from analyticsd.core.netaddr import Network, parse_networks
from analyticsd.core.rates import RateMeter
from analyticsd.core.useragent import UAClassifier
from analyticsd.core.visitor import salt_day
from analyticsd.http.access import AccessDeps
from analyticsd.http.admin import create_admin_app
from analyticsd.http.api import create_app
from analyticsd.http.backfill import BackfillDeps, register_recompute
from analyticsd.http.backfill import register as register_backfill
from analyticsd.http.client_facts import ClientProfiler
from analyticsd.http.dashboard import over_https
from analyticsd.http.dashboard import register as register_dashboard
from analyticsd.http.ingest import IngestHandler
from analyticsd.http.server import HttpServer
from analyticsd.http.share import register as register_share
from analyticsd.http.stats_api import StatsDeps
from analyticsd.http.stats_api import register as register_stats
from analyticsd.http.stats_v2 import register as register_stats_v2
from analyticsd.http.tracker import register as register_tracker
from analyticsd.storage import backfill_store
from analyticsd.storage.access_files import FirstToken, SessionEpochs
from analyticsd.storage.columnstore import ColumnStore
from analyticsd.storage.geoip import GeoLookup
from analyticsd.storage.imported import stamp_of
from analyticsd.storage.keys import SessionKey
from analyticsd.storage.queries import EnginePool
from analyticsd.storage.reserve import Reserve
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.spill import SpillStore
from analyticsd.storage.spool import Spool
from analyticsd.storage.stats_answers import StatsStoreView
from analyticsd.storage.statsdb import StatsDB, StatsReader
from analyticsd.storage.stream_names import edge_origin_name, hub_consumer_name
from analyticsd.systemd import Notifier

T = TypeVar("T")
log = logging.getLogger("analyticsd")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ReloadState:
    """What status reports about the last reload."""

    last_ms: int | None = None
    # Counts finished reloads, so `analyticsd reload` can tell its own
    # reload's outcome from an earlier one's.
    generation: int = 0
    ok: bool | None = None
    error: str | None = None
    changed: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)


class Storage:
    """The data dir's stores, opened once; the read side serves HTTP."""

    def __init__(self, config: Config) -> None:
        st = config.storage
        self.data_dir = st.data_dir
        os.makedirs(st.data_dir, exist_ok=True)
        self.reserve = Reserve(st.data_dir)
        self.reserve.release_if_short()  # before the stores need their bit of space
        spool_dir = os.path.join(st.data_dir, status_report.SPOOL_DIR)
        self.reserve.ensure_room_for_new_stores(spool_dir)
        self.spool = Spool(
            spool_dir,
            st.spool_max_bytes,
            status_report.consumers(config),
        )
        self.salts = SaltBook(st.data_dir)
        self.session_key = SessionKey(st.data_dir)  # in memory if it cannot be saved
        self.epochs = SessionEpochs(st.data_dir)
        self.first_token = FirstToken(st.data_dir)
        self.db = StatsDB(st.data_dir, config.aggregator.max_values_per_day)
        # Opened (made anew) at the first spill only: most sites never need it.
        self.spill = SpillStore(st.data_dir)
        counted = self.db.last_seq()
        if self.spool.raise_next_seq(counted + 1):
            log.warning(
                "the spool is younger than the statistics store (which counted up to "
                "sequence %d): new events are numbered from %d",
                counted,
                counted + 1,
            )
        self.reader = StatsReader(st.data_dir)
        self._read_lock = trio.Lock()
        # Stats API queries run on connections of their own, two at a time
        # (one per core), so a slow query does not hold up /api/stats.
        self.engines = EnginePool(
            st.data_dir,
            2,
            ColumnStore(st.data_dir, st.column_memory_mb) if st.column_store else None,
        )
        self._engine_slots = trio.Semaphore(self.engines.size)

    async def run_query(self, work: Callable[[StatsStoreView], T]) -> T:
        async with self._engine_slots:
            engine = self.engines.free.pop()
            engine.start()
            try:
                return await trio.to_thread.run_sync(work, StatsStoreView(engine))
            finally:
                self.engines.free.append(engine)

    async def day_stats(self, site_id: str, day: str) -> DayStats | None:
        async with self._read_lock:
            return await trio.to_thread.run_sync(self.reader.day_stats, site_id, day)

    async def known_event_ids(self, site: str, events: Iterable[tuple[int, str]]) -> set[str]:
        """Backfill's dedupe beyond the spool's window (storage.backfill_store)."""
        async with self._read_lock:  # the reader's one connection
            return await trio.to_thread.run_sync(
                backfill_store.known_ids, self.reader.conn, site, list(events)
            )

    def close(self) -> None:
        self.reader.close()
        self.engines.close()
        self.db.close()
        self.spill.close()
        self.spool.close()


@dataclass
class Parts:
    """Everything the daemon runs, built but not started."""

    config: Config  # the running configuration; a reload replaces it
    now_ms: Callable[[], int]
    storage: Storage
    heartbeats: Heartbeats
    notifier: Notifier
    writer: SpoolWriter
    enricher: Enricher
    forwarder: Forwarder | None
    hub: Hub | None
    geo: GeoLookup
    profiler: ClientProfiler
    meter: RateMeter
    metrics: Metrics
    # Mutated in place on reload (new sites), so the aggregator sees it.
    timezones: dict[str, str]
    reload: ReloadState = field(default_factory=ReloadState)
    started_at: float = 0.0
    # The file the daemon started from ("" = built-in defaults).
    config_path: str = ""
    # Built from the parts above (`build`); the server last, as its app
    # reports on everything.
    aggregator: Aggregator = field(init=False)
    ingest: IngestHandler = field(init=False)
    server: HttpServer = field(init=False)
    # The admin listener's app and resolved address (None, "": not configured).
    admin_app: Any = None
    admin_address: str = ""

    def new_forwarder(self, cfg: ForwardConfig) -> Forwarder:
        return Forwarder(
            self.storage.spool,
            self.writer,
            self.enricher.subscribe,
            cfg,
            cfg.origin or edge_origin_name(self.storage.data_dir),
            self.now_ms,
            beat=self.heartbeats.register("forwarder"),
        )

    def today_in(self, tz_name: str) -> str:
        return datetime.fromtimestamp(self.now_ms() / 1000, zone(tz_name)).strftime("%Y-%m-%d")

    def close(self) -> None:
        self.notifier.close()
        self.geo.close()
        self.storage.close()


def build(config: Config, now_ms: Callable[[], int] = wall_ms) -> Parts:
    storage = Storage(config)
    heartbeats = Heartbeats(trio.current_time)
    writer = SpoolWriter(storage.spool, now_ms, beat=heartbeats.register("spool-writer"))
    geo = GeoLookup(config.geoip.database)
    parts = Parts(
        config=config,
        now_ms=now_ms,
        storage=storage,
        heartbeats=heartbeats,
        notifier=Notifier.from_environment(),
        writer=writer,
        enricher=Enricher(storage.spool, writer, heartbeats.register("enricher")),
        forwarder=None,
        hub=None,
        geo=geo,
        profiler=ClientProfiler(UAClassifier(), geo, _salt_source(storage.salts, now_ms)),
        meter=RateMeter(),
        metrics=Metrics(),
        timezones={s.id: s.timezone for s in config.sites},
    )
    parts.aggregator = _aggregator(parts)
    parts.ingest = _ingest(parts)
    if config.forward.enabled:
        parts.forwarder = parts.new_forwarder(config.forward)
    if config.hub.enabled:
        parts.hub = _hub(parts)
    parts.server = _http_server(parts)
    return parts


def _aggregator(parts: Parts) -> Aggregator:
    config, timezones = parts.config, parts.timezones
    return Aggregator(
        parts.storage.spool,
        parts.writer,
        parts.enricher.subscribe,
        parts.storage.db,
        lambda: timezones,
        config.aggregator.flush_interval_s,
        parts.now_ms,
        config.storage.raw_event_retention_days,
        config.aggregator.quiet_flush_s,
        parts.metrics,
        parts.heartbeats.register("aggregator"),
        config.aggregator.memory_mb,
        parts.storage.spill,
        config.storage.hour_rollup_retention_days,
        config.storage.run_log_retention_days,
    )


def _ingest(parts: Parts) -> IngestHandler:
    meter = parts.meter
    return IngestHandler(
        parts.config,
        parts.writer.submit,
        parts.profiler,
        parts.now_ms,
        lambda n: meter.add(n, trio.current_time()),
        parts.metrics,
    )


def _salt_source(salts: SaltBook, now_ms: Callable[[], int]) -> Callable[[int], bytes | None]:
    def salt_of_day(day: int) -> bytes | None:
        salt = salts.get(day)
        if salt is None:  # first start west of UTC, or the clock jumped; rare
            today = salt_day(now_ms())
            salts.rotate(today)
            salt = salts.ensure(day, today)
        return salt

    return salt_of_day


def _hub(parts: Parts) -> Hub:
    cfg = parts.config.hub
    return Hub(
        parts.writer,
        cfg,
        cfg.consumer or hub_consumer_name(parts.storage.data_dir),
        lambda: frozenset(s.id for s in parts.config.sites),
        parts.now_ms,
        beat=parts.heartbeats.register("hub"),
    )


@lru_cache(maxsize=4)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(cidrs)


def _access(parts: Parts, storage: Storage) -> AccessDeps:
    first = storage.first_token

    def grants() -> tuple[Grant, ...]:
        # The token made on first start counts only while none is configured.
        tokens = parts.config.api.grants() or (Grant(first.get(), None),)
        return tokens + link_grants(parts.config.sites)

    if not parts.config.api.tokens:
        existed = os.path.exists(first.path)
        first.get()  # made (and printed, once) now rather than at a first sign-in
        if existed:
            log.info("no [api] tokens are configured: sign in with the token in %s", first.path)
    return AccessDeps(
        grants=grants,
        session_key=storage.session_key.key,
        now_ms=parts.now_ms,
        epochs=storage.epochs,
        trusted=lambda: _networks(tuple(parts.config.server.trusted_proxies)),
        monotonic=trio.current_time,
    )


def _backfill(parts: Parts, access: AccessDeps) -> BackfillDeps:
    storage, meter = parts.storage, parts.meter

    return BackfillDeps(
        config=lambda: parts.config,
        access=access,
        submit=parts.writer.submit,
        known=storage.known_event_ids,
        key=lambda: backfill_store.key(storage.data_dir),
        now_ms=parts.now_ms,
        on_accepted=lambda n: meter.add(n, trio.current_time()),
        recompute=lambda req: parts.aggregator.recompute(req),
        today=lambda tz: day_number(parts.today_in(tz)),
    )


def _absolute(address: str) -> str:
    """A unix socket path made absolute, so the record names it for any working directory."""
    if address.startswith("unix:"):
        return "unix:" + os.path.abspath(address[len("unix:") :])
    return address


def _http_server(parts: Parts) -> HttpServer:
    """The listener: ingest answered directly, the rest by the Quart app."""
    config, storage = parts.config, parts.storage

    async def status() -> dict[str, object]:
        return await status_report.live(parts)

    async def metrics_text() -> str:
        return exposition(parts.metrics, await status())

    # With an admin listener, health and metrics are served there only.
    parts.admin_address = _absolute(admin_address(config))
    if parts.admin_address:
        parts.admin_app = create_admin_app(status, metrics_text)
    access = _access(parts, storage)
    app = create_app(
        lambda: parts.config,
        storage.day_stats,
        status,
        parts.today_in,
        metrics_text,
        status_routes=not parts.admin_address,
        access=access,
    )
    stats_deps = StatsDeps(
        config=lambda: parts.config,
        run=storage.run_query,
        today=lambda tz: day_number(parts.today_in(tz)),
        now_ms=parts.now_ms,
        flushes=lambda: parts.aggregator.state.writes(),
        imports=lambda: stamp_of(config.storage.data_dir),
        access=access,
    )
    register_stats(app, stats_deps)
    register_stats_v2(app, stats_deps)
    register_dashboard(app, stats_deps, geo=lambda: parts.geo.describe())
    register_share(app, lambda: parts.config, access, over_https)
    register_tracker(app, config.tracker)
    history = _backfill(parts, access)
    register_backfill(app, history)
    register_recompute(app, history)
    alias = config.tracker.event_path
    return HttpServer(config.server, parts.ingest, app, alias if alias != "/api/event" else "")
