"""Applying a configuration reload (SIGHUP) to the running daemon.

Sites, origins, goals, tokens, GeoIP and forwarding apply live
(core.reload decides what changed and what needs a restart); a GeoIP
database file replaced on disk is reopened even when the setting is the
same. An invalid file changes nothing: the error, naming the key, is logged
and shown in status. Ingest never pauses, so no event is refused or lost across a
reload. New enrichment rules apply to the events numbered after the reload
(actors/enricher.py says why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from analyticsd import status_report
from analyticsd.core.config import Config, validate
from analyticsd.core.errors import ConfigError
from analyticsd.core.reload import changed_sections, merge_live
from analyticsd.storage.geoip import GeoLookup
from analyticsd.supervisor import Supervisor, publish_rules
from analyticsd.wiring import Parts

log = logging.getLogger("analyticsd")


class Reloader:
    def __init__(self, parts: Parts, load_config: Callable[[], Config] | None) -> None:
        self.parts = parts
        # Re-reads the configuration file (None: built-in defaults, nothing
        # to re-read).
        self._load_config = load_config

    async def __call__(self, supervisor: Supervisor) -> str:
        """Reload; the outcome in words (for systemd's status line)."""
        p = self.parts
        p.reload.last_ms = p.now_ms()
        if self._load_config is None:
            # No file to re-read; a GeoIP database replaced on disk (`make
            # geoip-update`) is still taken.
            changed = ["geoip"] if p.geo.changed_on_disk() else []
            if changed:
                self._reopen_geo(p.config)
            log.info(
                "received SIGHUP: running on built-in defaults, %s",
                "reopened the GeoIP database" if changed else "nothing to reload",
            )
            self._report(ok=True, changed=changed)
            return "running on built-in defaults"
        try:
            merged, restart = merge_live(p.config, self._load_config())
            validate(merged)
        except ConfigError as e:
            log.error("configuration reload failed, the running configuration stays: %s", e)
            self._report(ok=False, error=str(e))
            return f"reload failed: {e}"
        changed = changed_sections(p.config, merged)
        # The same file setting, but the file was replaced (a newer database
        # moved into place): reopened like a changed setting.
        if "geoip" not in changed and p.geo.changed_on_disk():
            changed.append("geoip")
        await self._apply(merged, changed, supervisor)
        self._report(ok=True, changed=changed, needs_restart=restart)
        log.info(
            "configuration reloaded; applied: %s%s",
            ", ".join(changed) or "nothing changed",
            f"; needs a restart: {', '.join(restart)}" if restart else "",
        )
        return "running; configuration reloaded"

    def _reopen_geo(self, config: Config) -> None:
        p = self.parts
        old, p.geo = p.geo, GeoLookup(config.geoip.database)
        p.profiler.geo = p.geo
        old.close()

    def _report(
        self,
        *,
        ok: bool,
        error: str | None = None,
        changed: list[str] | None = None,
        needs_restart: list[str] | None = None,
    ) -> None:
        r = self.parts.reload
        r.generation += 1
        r.ok, r.error = ok, error
        r.changed, r.needs_restart = changed or [], needs_restart or []

    async def _apply(self, new: Config, changed: list[str], supervisor: Supervisor) -> None:
        p = self.parts
        if "sites" in changed:
            for site in new.sites:
                p.timezones.setdefault(site.id, site.timezone)
            # Before the receiver takes the new sites: their events get the
            # rules that know them.
            await publish_rules(p, new)
            p.ingest.apply_sites(new.sites)
        if "geoip" in changed:
            self._reopen_geo(new)
        forward_changed = "forward" in changed
        p.config = new
        if forward_changed:
            p.storage.spool.consumers = status_report.consumers(new)
            await supervisor.restart_forwarder()
