"""Enrichment of a raw record: traffic source and goals (pure).

The client facts (visitor ids, user agent, bot flag, GeoIP, language) were
derived at receipt; what is added here depends only on the event and the
site's configuration, so it is cheap to compute and easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from analyticsd.core.config import SiteConfig
from analyticsd.core.ingest import PAGEVIEW, IncomingEvent
from analyticsd.core.records import (
    SCHEMA_VERSION,
    EnrichedHead,
    EnrichedRecord,
    EventView,
    RawHead,
    RawRecord,
)
from analyticsd.core.source import Source, classify

# Event names that are conversions even without a configured goal.
BUILTIN_CONVERSIONS = frozenset({"purchase", "conversion"})


def _page_pattern(page: str) -> re.Pattern[str]:
    # `*` matches any run of characters (also across `/`), like Plausible's
    # page goals; everything else is literal.
    return re.compile("^" + ".*".join(re.escape(part) for part in page.split("*")) + "$")


class SiteRules:
    """What enrichment needs to know about one site, prepared once."""

    def __init__(self, site: SiteConfig) -> None:
        self.site_id = site.id
        hosts = {site.id.removeprefix("www.")}
        for origin in site.origins:
            if origin != "*":
                host = urlsplit(origin).hostname
                if host:
                    hosts.add(host.removeprefix("www."))
        self.own_hosts = frozenset(hosts)
        self._event_goals: dict[str, list[str]] = {}
        self._page_goals: list[tuple[re.Pattern[str], str]] = []
        for goal in site.goals:
            if goal.event:
                self._event_goals.setdefault(goal.event, []).append(goal.display_name)
            else:
                self._page_goals.append((_page_pattern(goal.page), goal.display_name))

    def goals_of(self, ev: IncomingEvent | EventView) -> tuple[str, ...]:
        """Names of the goals this event completes."""
        found: list[str] = []
        if ev.event_type == PAGEVIEW:
            found += [name for pattern, name in self._page_goals if pattern.match(ev.path)]
        else:
            found += self._event_goals.get(ev.event_type, ())
            if ev.event_type in BUILTIN_CONVERSIONS and ev.event_type not in found:
                found.append(ev.event_type)
        return tuple(found)


def rules_for(sites: Iterable[SiteConfig]) -> dict[str, SiteRules]:
    return {s.id: SiteRules(s) for s in sites}


@lru_cache(maxsize=4096)
def _own_hosts_with(own: frozenset[str], hostname: str) -> frozenset[str]:
    return own | {hostname.removeprefix("www.")} if hostname else own


def classify_event(
    ev: IncomingEvent | EventView, rules: SiteRules | None
) -> tuple[Source, tuple[str, ...]]:
    """The traffic source of an event and the goals it completes."""
    own = rules.own_hosts if rules is not None else frozenset()
    utm = ev.utm
    source = classify(
        ev.referrer,
        utm.get("utm_source", ""),
        utm.get("utm_medium", ""),
        ev.click_id,
        _own_hosts_with(own, ev.hostname),
    )
    return source, rules.goals_of(ev) if rules is not None else ()


def _carried(src: RawHead | RawRecord) -> dict[str, Any]:
    """The fields a raw record hands on unchanged to its enriched record."""
    return {
        "v": SCHEMA_VERSION,
        "event_id": src.event_id,
        "received_ms": src.received_ms,
        "visitor": src.visitor,
        "prev_visitor": src.prev_visitor,
        "client": src.client,
        "geo": src.geo,
        "lang": src.lang,
        "event": src.event,
    }


def enrich_head(head: RawHead, view: EventView, rules: SiteRules | None) -> EnrichedHead:
    """The enricher's fast path: only the fields it reads are decoded. (The
    fields are spelled out, not taken from _carried: this runs per event.)"""
    source, goals = classify_event(view, rules)
    h = head
    return EnrichedHead(
        SCHEMA_VERSION, h.event_id, h.received_ms, h.visitor, h.prev_visitor,
        h.client, h.geo, h.lang, source, goals, h.event,
    )  # fmt: skip


def enrich(raw: RawRecord, rules: SiteRules | None) -> EnrichedRecord:
    """The same as enrich_head, on a fully decoded record."""
    source, goals = classify_event(raw.event, rules)
    return EnrichedRecord(**_carried(raw), source=source, goals=goals)
