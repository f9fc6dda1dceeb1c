"""Supervising the daemon's actors: start order, signals, shutdown order, watchdog.

Start order: the spool writer, the enricher (then the enrichment rules of
the configuration are stored), the salt rotator, the aggregator, the
forwarder, the hub consumer, and last the listener, so nothing is accepted
before everything that handles it runs. Then systemd hears READY.

Shutdown order on SIGTERM/SIGINT (all steps share one time budget):
1. the receiver answers ingest with 503 and waits for in-flight requests;
2. the listener closes; the hub stops consuming (unacknowledged stream
   entries stay pending in Redis and are read again after the restart);
3. the enricher hands the aggregator what is left in the spool, then ends
   its feed;
4. the aggregator counts it and does its final flush (shielded from
   cancellation), moving its spool cursor;
5. the forwarder stops (what it did not send stays behind its cursor);
6. the spool writer commits what is waiting, then refuses writes;
7. exit 0. Anything acknowledged is in the spool, so nothing is lost if a
   step runs out of time: it is picked up after the restart.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio

from analyticsd import tuning
from analyticsd.actors.salt_rotator import run_salt_rotator
from analyticsd.core import notify
from analyticsd.core.config import Config, parse_listen
from analyticsd.core.enrich import encode_rules, rule_set
from analyticsd.core.errors import ListenError, SpoolError
from analyticsd.core.heartbeat import HEARTBEAT_S
from analyticsd.core.messages import PublishRules
from analyticsd.http import admin
from analyticsd.storage import daemon_record
from analyticsd.storage.shared_salts import SaltAgreement
from analyticsd.wiring import Parts

log = logging.getLogger("analyticsd")
# How a bind failure reads, by errno; anything else keeps the OS's words.
_BIND_REASONS = {
    errno.EADDRINUSE: "address in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "address not available on this machine",
}

# Budget for the whole graceful stop; systemd's TimeoutStopSec is larger.
STOP_BUDGET_S = 7.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class Scopes:
    """One cancel scope per actor, so each can be stopped in its turn."""

    server: trio.CancelScope = field(default_factory=trio.CancelScope)
    hub: trio.CancelScope = field(default_factory=trio.CancelScope)
    enricher: trio.CancelScope = field(default_factory=trio.CancelScope)
    aggregator: trio.CancelScope = field(default_factory=trio.CancelScope)
    forwarder: trio.CancelScope = field(default_factory=trio.CancelScope)
    rotator: trio.CancelScope = field(default_factory=trio.CancelScope)
    admin: trio.CancelScope = field(default_factory=trio.CancelScope)


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


async def open_listeners(listen: str) -> list[trio.SocketListener]:
    """Bind `listen` (host:port); a failure is one ListenError naming the address."""
    host, port = parse_listen(listen)
    try:
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as e:
        reason = _BIND_REASONS.get(e.errno or 0) or e.strerror or str(e)
        raise ListenError(f"cannot listen on {listen}: {reason}") from e


async def publish_rules(parts: Parts, config: Config) -> None:
    """Store the enrichment rules of `config` (a no-op when unchanged):
    they apply to every event numbered after this commit."""
    try:
        await parts.writer.submit(PublishRules(encode_rules(rule_set(config.sites))))
    except SpoolError as e:
        # Degrades, never stops the daemon (a full disk): events keep the
        # rules stored before until a later reload or restart.
        log.error("enrichment rules not stored, the previous ones stay in force: %s", e)


class Supervisor:
    def __init__(self, parts: Parts, reload: Callable[[Supervisor], Awaitable[str]]) -> None:
        self.parts = parts
        self._reload = reload
        self.scopes = Scopes()
        self.aggregator_done = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        p = self.parts
        listeners = await open_listeners(p.config.server.listen)
        admin_sock = admin.bind(p.admin_address) if p.admin_address else None
        p.started_at = trio.current_time()
        p.heartbeats.start()
        with trio.open_signal_receiver(*STOP_SIGNALS, signal.SIGHUP) as signals:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._start_actors(nursery, listeners)
                if admin_sock is not None:
                    await nursery.start(
                        _run_in, self.scopes.admin, partial(admin.serve, p.admin_app, admin_sock)
                    )
                tuning.after_start(nursery, lambda: p.server.open_connections)
                bound = listeners[0].socket.getsockname()
                address = f"{bound[0]}:{bound[1]}"
                log.info("listening on %s", address)
                self._write_record(address)
                self._start_watchdog(nursery)
                # Every actor is running: tell systemd (Type=notify-reload).
                p.notifier.send(notify.ready(f"listening on {address}"))
                if on_ready is not None:
                    on_ready(address)
                await self._serve_signals(signals)
                p.notifier.send(notify.stopping("shutting down"))
                await self._stop()
                daemon_record.remove(p.storage.data_dir)
                admin.unlink(p.admin_address)
                nursery.cancel_scope.cancel()

    def _write_record(self, address: str) -> None:
        """Where `status` and `reload` find this daemon, whatever the file says later."""
        p = self.parts
        record = daemon_record.DaemonRecord(
            os.getpid(), address, admin=p.admin_address, config=p.config_path
        )
        try:
            daemon_record.write(p.storage.data_dir, record)
        except OSError as e:  # a full disk: status then falls back to the file's address
            log.warning("could not write %s: %s", daemon_record.RECORD_FILE, e)

    async def _start_actors(self, nursery: trio.Nursery, listeners: list[Any]) -> None:
        p, s = self.parts, self.scopes
        await nursery.start(p.writer.run)
        await nursery.start(_run_in, s.enricher, p.enricher.run)
        await publish_rules(p, p.config)
        rotator = partial(
            run_salt_rotator,
            p.storage.salts,
            p.now_ms,
            reserve=p.storage.reserve,
            session_key=p.storage.session_key,
            agreement=_salt_agreement(p.config),
            beat=p.heartbeats.register("salt-rotator"),
        )
        await nursery.start(_run_in, s.rotator, rotator)
        await nursery.start(_run_in, s.aggregator, p.aggregator.run, self.aggregator_done)
        if p.forwarder is not None:
            await nursery.start(_run_in, s.forwarder, p.forwarder.run)
        if p.hub is not None:
            await nursery.start(_run_in, s.hub, p.hub.run)
        await nursery.start(_run_in, s.server, partial(p.server.serve, listeners))

    async def _serve_signals(self, signals: Any) -> None:
        """Reload on SIGHUP; return on the first stop signal."""
        async for signum in signals:
            if signum in STOP_SIGNALS:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                return
            self.parts.notifier.send(notify.reloading(time.monotonic_ns() // 1000))
            outcome = await self._reload(self)
            self.parts.notifier.send(notify.ready(outcome))

    async def restart_forwarder(self) -> None:
        """Stop the running forwarder (if any) and start the one of the
        current configuration (if forwarding is on)."""
        p = self.parts
        self.scopes.forwarder.cancel()
        p.heartbeats.unregister("forwarder")
        p.forwarder = None
        if p.config.forward.enabled:
            assert self._nursery is not None  # only called while running
            p.forwarder = p.new_forwarder(p.config.forward)
            self.scopes.forwarder = trio.CancelScope()
            await self._nursery.start(_run_in, self.scopes.forwarder, p.forwarder.run)

    def _start_watchdog(self, nursery: trio.Nursery) -> None:
        timeout_s = notify.watchdog_interval_s(os.environ, os.getpid())
        if timeout_s is not None and self.parts.notifier.enabled:
            nursery.start_soon(self._watchdog, timeout_s)

    async def _watchdog(self, timeout_s: float) -> None:
        """Ping systemd's watchdog twice per timeout, but only while every
        actor's heartbeat is fresh: a stuck actor gets the service restarted."""
        max_age = max(timeout_s, 5 * HEARTBEAT_S)
        reported = False
        while True:
            stale = self.parts.heartbeats.stale(max_age)
            if not stale:
                self.parts.notifier.send(notify.WATCHDOG)
                reported = False
            elif not reported:
                log.error("actor(s) stuck: %s; watchdog pings stopped", ", ".join(stale))
                reported = True
            await trio.sleep(timeout_s / 2)

    async def _stop(self) -> None:
        p, s = self.parts, self.scopes
        deadline = trio.current_time() + STOP_BUDGET_S
        p.server.start_draining()
        with trio.move_on_at(deadline):
            await p.server.wait_idle()
        s.server.cancel()
        s.hub.cancel()
        p.enricher.stopping.set()  # feeds hand over what is left, then end
        with trio.move_on_at(deadline):
            await self.aggregator_done.wait()
        s.aggregator.cancel()  # its final flush is shielded inside
        s.enricher.cancel()
        s.forwarder.cancel()
        p.writer.close()
        with trio.move_on_at(deadline + 1):
            await p.writer.wait_stopped()
        s.rotator.cancel()
        s.admin.cancel()  # last: status answers while the stop runs


def _salt_agreement(config: Config) -> SaltAgreement | None:
    """The deployment's shared salts, when configured (README "One visitor across edges")."""
    c = config.salts
    return SaltAgreement(c.redis_url, c.key_prefix, c.timeout_s) if c.redis_url else None
