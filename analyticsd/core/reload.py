"""What a configuration reload changes, decided without touching anything.

Some sections apply while the daemon runs (LIVE_SECTIONS); the others, and a
site's timezone (buckets already counted are in the old zone), only take
effect at the next restart. `merge_live` gives the configuration to run with
now and names what waits for a restart.
"""

from __future__ import annotations

import msgspec

from analyticsd.core.config import Config

LIVE_SECTIONS = ("sites", "api", "geoip", "forward", "metrics")


def changed_sections(old: Config, new: Config) -> list[str]:
    return [name for name in old.__struct_fields__ if getattr(old, name) != getattr(new, name)]


def merge_live(running: Config, new: Config) -> tuple[Config, list[str]]:
    """(the running config with the live sections of `new`, what needs a restart)."""
    restart = [c for c in changed_sections(running, new) if c not in LIVE_SECTIONS]
    zones = {s.id: s.timezone for s in running.sites}
    sites = []
    for site in new.sites:
        old_tz = zones.get(site.id)
        if old_tz is not None and old_tz != site.timezone:
            restart.append(f"sites.{site.id}.timezone")
            site = msgspec.structs.replace(site, timezone=old_tz)
        sites.append(site)
    live = {name: getattr(new, name) for name in LIVE_SECTIONS}
    merged = msgspec.structs.replace(running, **{**live, "sites": tuple(sites)})
    return merged, restart
