"""Wiring: builds every actor from the config and runs them in one nursery.

Shutdown order on SIGTERM/SIGINT (all steps share one time budget):
1. the receiver answers ingest with 503 and waits for in-flight requests;
2. the listener closes;
3. the enricher hands the aggregator what is left in the spool, then ends
   its feed;
4. the aggregator counts it and does its final flush (shielded from
   cancellation), moving its spool cursor;
5. the spool writer commits what is waiting, then refuses writes;
6. exit 0. Anything acknowledged is in the spool, so nothing is lost if a
   step runs out of time: it is picked up after the restart.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import trio

from analyticsd import report
from analyticsd.actors.aggregator import Aggregator
from analyticsd.actors.enricher import Enricher
from analyticsd.actors.forwarder import Forwarder
from analyticsd.actors.hub import Hub
from analyticsd.actors.salt_rotator import run_salt_rotator
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core import notify
from analyticsd.core.aggregate import day_number
from analyticsd.core.buckets import zone
from analyticsd.core.config import Config, parse_listen, validate
from analyticsd.core.enrich import encode_rules, rule_set
from analyticsd.core.errors import ConfigError, DataDirLocked, SpoolError
from analyticsd.core.heartbeat import HEARTBEAT_S, Heartbeats
from analyticsd.core.messages import DayStats, PublishRules
from analyticsd.core.metrics import Metrics, exposition
from analyticsd.core.rates import RateMeter
from analyticsd.core.records import received_ms_of
from analyticsd.core.reload import changed_sections, merge_live
from analyticsd.core.useragent import UAClassifier
from analyticsd.core.visitor import salt_day
from analyticsd.http.api import create_app
from analyticsd.http.client import ClientProfiler
from analyticsd.http.dashboard import register as register_dashboard
from analyticsd.http.ingest import IngestHandler
from analyticsd.http.server import HttpServer
from analyticsd.http.stats_api import StatsDeps
from analyticsd.http.stats_api import register as register_stats
from analyticsd.http.tracker import register as register_tracker
from analyticsd.storage.canonical import hub_consumer_name
from analyticsd.storage.geoip import GeoLookup
from analyticsd.storage.keys import session_key
from analyticsd.storage.queries import EnginePool, QueryEngine
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.spool import Spool
from analyticsd.storage.statsdb import StatsDB, StatsReader
from analyticsd.systemd import Notifier

T = TypeVar("T")


log = logging.getLogger("analyticsd")
# Budget for the whole graceful stop; systemd's TimeoutStopSec is larger.
STOP_BUDGET_S = 7.0
LOCK_FILE = "analyticsd.lock"


# Full garbage collections scan every live object: with the visits and
# unique-visitor sets in memory that is a 30-100 ms pause, which the
# interpreter otherwise triggers every few seconds under load. Young
# generations are still collected automatically; full ones run on this clock.
FULL_GC_INTERVAL_S = 300.0


async def _collect_garbage(interval_s: float) -> None:
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, 1_000_000_000)  # no automatic full collection
    while True:
        await trio.sleep(interval_s)
        gc.collect()


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def lock_data_dir(data_dir: str) -> int:
    """Hold an exclusive lock for the process lifetime: two daemons on one data
    dir would count every event twice."""
    os.makedirs(data_dir, exist_ok=True)
    fd = os.open(os.path.join(data_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(f"another analyticsd is running on {data_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def _run_in(
    scope: trio.CancelScope,
    fn: Callable[..., Awaitable[Any]],
    done: trio.Event | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        with scope:
            await fn(task_status=task_status)
    finally:
        if done is not None:
            done.set()


class Daemon:
    def __init__(
        self,
        config: Config,
        now_ms: Callable[[], int] = wall_ms,
        load_config: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        self.now_ms = now_ms
        # Re-reads the configuration file on SIGHUP (None: built-in defaults,
        # nothing to re-read).
        self._load_config = load_config
        self.reload_state: dict[str, Any] = {
            "last": None,
            "ok": None,
            "error": None,
            "changed": [],
            "needs_restart": [],
        }
        st = config.storage
        self.spool = Spool(
            os.path.join(st.data_dir, report.SPOOL_DIR),
            st.spool_max_bytes,
            report.consumers(config),
        )
        self.salts = SaltBook(st.data_dir)
        self.db = StatsDB(st.data_dir)
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
        self.engines = EnginePool(st.data_dir, 2)
        self._engine_slots = trio.Semaphore(self.engines.size)
        self.heartbeats = Heartbeats(trio.current_time)
        beat = self.heartbeats.register
        self.notifier = Notifier.from_environment()
        self.writer = SpoolWriter(self.spool, now_ms, beat=beat("spool-writer"))
        self.meter = RateMeter()
        self.metrics = Metrics()
        # Mutated in place on reload (new sites), so the aggregator sees it.
        self._tz = tz = {s.id: s.timezone for s in config.sites}
        self.enricher = Enricher(self.spool, self.writer, beat("enricher"))
        self.aggregator = Aggregator(
            self.spool,
            self.writer,
            self.enricher.subscribe,
            self.db,
            lambda: tz,
            config.aggregator.flush_interval_s,
            now_ms,
            st.raw_event_retention_days,
            config.aggregator.quiet_flush_s,
            self.metrics,
            beat("aggregator"),
        )
        self._beat_rotator = beat("salt-rotator")
        self.forwarder = (
            Forwarder(
                self.spool,
                self.writer,
                self.enricher.subscribe,
                config.forward,
                now_ms,
                beat=beat("forwarder"),
            )
            if config.forward.enabled
            else None
        )
        self.hub = (
            Hub(
                self.writer,
                config.hub,
                config.hub.consumer or hub_consumer_name(st.data_dir),
                lambda: frozenset(s.id for s in self.config.sites),
                now_ms,
                beat=beat("hub"),
            )
            if config.hub.enabled
            else None
        )
        self.geo = GeoLookup(config.geoip.database)
        self.profiler = ClientProfiler(UAClassifier(), self.geo, self._salt_of_day)
        self.ingest = IngestHandler(
            config, self.writer.submit, self.profiler, now_ms, self._accepted, self.metrics
        )
        app = create_app(
            lambda: self.config, self._day_stats, self.status, self._today_in, self._metrics_text
        )
        stats_deps = StatsDeps(
            config=lambda: self.config,
            run=self._run_query,
            today=lambda tz: day_number(self._today_in(tz)),
            now_ms=now_ms,
            flushes=lambda: self.aggregator.state.flushes,
            session_key=session_key(st.data_dir),
        )
        register_stats(app, stats_deps)
        register_dashboard(app, stats_deps, stats_deps.session_key)
        register_tracker(app, config.tracker)
        alias = config.tracker.event_path
        self.server = HttpServer(
            config.server, self.ingest, app, alias if alias != "/api/event" else ""
        )
        self.started_at = 0.0
        self.aggregator_done = trio.Event()

    # -- callables handed to the HTTP layer -----------------------------------

    def _salt_of_day(self, day: int) -> bytes | None:
        salt = self.salts.get(day)
        if salt is None:  # first start west of UTC, or the clock jumped; rare
            today = salt_day(self.now_ms())
            self.salts.rotate(today)
            salt = self.salts.ensure(day, today)
        return salt

    def _accepted(self, n: int) -> None:
        self.meter.add(n, trio.current_time())

    async def _run_query(self, work: Callable[[QueryEngine], T]) -> T:
        async with self._engine_slots:
            engine = self.engines.free.pop()
            engine.start()
            try:
                return await trio.to_thread.run_sync(work, engine)
            finally:
                self.engines.free.append(engine)

    def _today_in(self, tz_name: str) -> str:
        return datetime.fromtimestamp(self.now_ms() / 1000, zone(tz_name)).strftime("%Y-%m-%d")

    async def _day_stats(self, site_id: str, day: str) -> DayStats | None:
        async with self._read_lock:
            return await trio.to_thread.run_sync(self.reader.day_stats, site_id, day)

    async def status(self) -> dict[str, Any]:
        stats = await trio.to_thread.run_sync(self.spool.stats)
        now = trio.current_time()
        st = self.aggregator.state
        live = report.Live(
            uptime_s=now - self.started_at,
            events_per_s_1m=self.meter.per_second(now),
            accepted_total=self.meter.total,
            pending_events=st.pending_events,
            last_flush_ms=st.last_flush_ms,
            draining=self.server.draining,
            open_visits=st.open_sessions,
        )
        rep = report.build(
            self.config.storage.data_dir,
            stats,
            st.flushed_seq,
            self.now_ms(),
            live,
            forward=await self._forward_view(),
            hub=self._hub_view(),
        )
        rep["reload"] = {**self.reload_state, "last": report.iso(self.reload_state["last"])}
        return rep

    async def _metrics_text(self) -> str:
        return exposition(self.metrics, await self.status())

    async def _forward_view(self) -> report.ForwardView | None:
        if self.forwarder is None:
            return None
        fw = self.forwarder.state
        first = await trio.to_thread.run_sync(self.spool.first_after, fw.cursor)
        return report.ForwardView(
            state=str(fw.link.state),
            since_ms=fw.link.since_ms,
            cursor=fw.cursor,
            oldest_unforwarded_ms=received_ms_of(first) if first else None,
            forwarded_total=fw.forwarded,
            last_error=fw.link.last_error,
        )

    def _hub_view(self) -> report.HubView | None:
        if self.hub is None:
            return None
        h = self.hub.state
        return report.HubView(
            state=str(h.link.state),
            since_ms=h.link.since_ms,
            consumed_total=h.consumed,
            duplicates_total=h.duplicates,
            dead_lettered_total=h.dead_lettered,
            claimed_total=h.claimed,
            last_error=h.link.last_error,
        )

    # -- lifecycle --------------------------------------------------------------

    async def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        host, port = parse_listen(self.config.server.listen)
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.started_at = trio.current_time()
        self.heartbeats.start()
        scopes = {
            name: trio.CancelScope()
            for name in ("server", "hub", "enricher", "aggregator", "forwarder", "rotator")
        }
        stop_signals = (signal.SIGTERM, signal.SIGINT)
        with trio.open_signal_receiver(*stop_signals, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.writer.run)
                await nursery.start(_run_in, scopes["enricher"], self.enricher.run)
                await self._publish_rules(self.config)
                await nursery.start(
                    _run_in,
                    scopes["rotator"],
                    partial(run_salt_rotator, self.salts, self.now_ms, beat=self._beat_rotator),
                )
                await nursery.start(
                    _run_in, scopes["aggregator"], self.aggregator.run, self.aggregator_done
                )
                if self.forwarder is not None:
                    await nursery.start(_run_in, scopes["forwarder"], self.forwarder.run)
                if self.hub is not None:
                    await nursery.start(_run_in, scopes["hub"], self.hub.run)
                await nursery.start(
                    _run_in, scopes["server"], partial(self.server.serve, listeners)
                )
                # Everything loaded so far (libraries, config, app) lives as
                # long as the process: keep it out of the collector's scans,
                # which otherwise pause the event loop ~30 ms at a time.
                gc.collect()
                gc.freeze()
                nursery.start_soon(_collect_garbage, FULL_GC_INTERVAL_S)
                bound = listeners[0].socket.getsockname()
                log.info("listening on %s:%s", bound[0], bound[1])
                watchdog_s = notify.watchdog_interval_s(os.environ, os.getpid())
                if watchdog_s is not None and self.notifier.enabled:
                    nursery.start_soon(self._watchdog, watchdog_s)
                # Every actor is running: tell systemd (Type=notify-reload).
                self.notifier.send(notify.ready(f"listening on {bound[0]}:{bound[1]}"))
                if on_ready is not None:
                    on_ready(f"{bound[0]}:{bound[1]}")
                async for signum in signals:
                    if signum in stop_signals:
                        log.info("received %s, shutting down", signal.Signals(signum).name)
                        break
                    self.notifier.send(notify.reloading(time.monotonic_ns() // 1000))
                    outcome = await self.reload(nursery, scopes)
                    self.notifier.send(notify.ready(outcome))
                self.notifier.send(notify.stopping("shutting down"))
                await self._stop(scopes)
                nursery.cancel_scope.cancel()

    # -- reload ---------------------------------------------------------------

    async def reload(self, nursery: trio.Nursery, scopes: dict[str, trio.CancelScope]) -> str:
        """Re-read the file; apply sites, origins, goals, tokens, GeoIP and
        forwarding live. An invalid file changes nothing: the error (naming
        the key) is logged and shown in status. Ingest never pauses, so no
        event is refused or lost across a reload."""
        self.reload_state["last"] = self.now_ms()
        if self._load_config is None:
            log.info("received SIGHUP: running on built-in defaults, nothing to reload")
            self.reload_state.update(ok=True, error=None, changed=[], needs_restart=[])
            return "running on built-in defaults"
        try:
            new = self._load_config()
            merged, restart = merge_live(self.config, new)
            validate(merged)
        except ConfigError as e:
            log.error("configuration reload failed, the running configuration stays: %s", e)
            self.reload_state.update(ok=False, error=str(e), changed=[], needs_restart=[])
            return f"reload failed: {e}"
        changed = changed_sections(self.config, merged)
        await self._apply(merged, changed, nursery, scopes)
        self.config = merged
        self.reload_state.update(ok=True, error=None, changed=changed, needs_restart=restart)
        log.info(
            "configuration reloaded; applied: %s%s",
            ", ".join(changed) or "nothing changed",
            f"; needs a restart: {', '.join(restart)}" if restart else "",
        )
        return "running; configuration reloaded"

    async def _apply(
        self,
        new: Config,
        changed: list[str],
        nursery: trio.Nursery,
        scopes: dict[str, trio.CancelScope],
    ) -> None:
        if "sites" in changed:
            for site in new.sites:
                self._tz.setdefault(site.id, site.timezone)
            # Before the receiver takes the new sites: their events get
            # the rules that know them.
            await self._publish_rules(new)
            self.ingest.apply_sites(new.sites)
        if "geoip" in changed:
            old, self.geo = self.geo, GeoLookup(new.geoip.database)
            self.profiler.geo = self.geo
            old.close()
        if "forward" in changed:
            scopes["forwarder"].cancel()
            self.heartbeats.unregister("forwarder")
            self.spool.consumers = report.consumers(new)
            self.forwarder = None
            if new.forward.enabled:
                self.forwarder = Forwarder(
                    self.spool,
                    self.writer,
                    self.enricher.subscribe,
                    new.forward,
                    self.now_ms,
                    beat=self.heartbeats.register("forwarder"),
                )
                scopes["forwarder"] = trio.CancelScope()
                await nursery.start(_run_in, scopes["forwarder"], self.forwarder.run)

    async def _publish_rules(self, config: Config) -> None:
        """Store the enrichment rules of `config` (a no-op when unchanged):
        they apply to every event numbered after this commit."""
        try:
            await self.writer.submit(PublishRules(encode_rules(rule_set(config.sites))))
        except SpoolError as e:
            # Degrades, never stops the daemon (a full disk): events keep
            # the rules stored before until a later reload or restart.
            log.error("enrichment rules not stored, the previous ones stay in force: %s", e)

    async def _watchdog(self, timeout_s: float) -> None:
        """Ping systemd's watchdog twice per timeout, but only while every
        actor's heartbeat is fresh: a stuck actor gets the service restarted."""
        max_age = max(timeout_s, 5 * HEARTBEAT_S)
        reported = False
        while True:
            stale = self.heartbeats.stale(max_age)
            if not stale:
                self.notifier.send(notify.WATCHDOG)
                reported = False
            elif not reported:
                log.error("actor(s) stuck: %s; watchdog pings stopped", ", ".join(stale))
                reported = True
            await trio.sleep(timeout_s / 2)

    async def _stop(self, scopes: dict[str, trio.CancelScope]) -> None:
        deadline = trio.current_time() + STOP_BUDGET_S
        self.server.start_draining()
        with trio.move_on_at(deadline):
            await self.server.wait_idle()
        scopes["server"].cancel()
        # Unacknowledged stream entries stay pending in Redis; the restarted
        # hub reads them again.
        scopes["hub"].cancel()
        self.enricher.stopping.set()  # feeds hand over what is left, then end
        with trio.move_on_at(deadline):
            await self.aggregator_done.wait()
        scopes["aggregator"].cancel()  # its final flush is shielded inside
        scopes["enricher"].cancel()
        # What was not forwarded stays in the spool behind the forwarder's
        # cursor and goes out after the restart.
        scopes["forwarder"].cancel()
        self.writer.close()
        with trio.move_on_at(deadline + 1):
            await self.writer.wait_stopped()
        scopes["rotator"].cancel()

    def close(self) -> None:
        self.notifier.close()
        self.geo.close()
        self.reader.close()
        self.engines.close()
        self.db.close()
        self.spool.close()
