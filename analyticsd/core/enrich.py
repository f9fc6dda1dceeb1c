"""Enrichment of a spool record: traffic source and goals (pure).

The client facts (visitor ids, user agent, bot flag, GeoIP, language) were
derived at receipt; what is added here depends only on the event and a
`RuleSet` (each site's own hosts and goals), so it is cheap to compute and
easy to test.

A rule set is data, not config objects: the spool stores every rule set in
force for records it still holds (storage.spool), so enrichment is a pure
function of (record, its rule set) and gives the same answer to every
consumer, before and after a restart or a reload.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlsplit

import msgspec

from analyticsd.core.config import SiteConfig
from analyticsd.core.dimensions import prop_text
from analyticsd.core.ingest import PAGEVIEW, IncomingEvent, PropValue
from analyticsd.core.source import Source, classify
from analyticsd.core.spool_record import EnrichedRecord, Record

# Event names that are conversions even without a configured goal.
BUILTIN_CONVERSIONS = frozenset({"purchase", "conversion"})


class GoalSpec(msgspec.Struct, frozen=True, array_like=True):
    name: str
    event: str  # "" for a page goal
    page: str
    # (key, value) pairs the event's props must all hold, sorted. Last and
    # defaulted: rule sets stored before it existed decode with none.
    props: tuple[tuple[str, str], ...] = ()


class SiteSpec(msgspec.Struct, frozen=True, array_like=True):
    site_id: str
    own_hosts: tuple[str, ...]  # sorted, without "www."
    goals: tuple[GoalSpec, ...]


class RuleSet(msgspec.Struct, frozen=True, array_like=True):
    """Everything enrichment reads from the configuration."""

    sites: tuple[SiteSpec, ...]


def rule_set(sites: Iterable[SiteConfig]) -> RuleSet:
    return RuleSet(tuple(_site_spec(s) for s in sites))


def _site_spec(site: SiteConfig) -> SiteSpec:
    hosts = {site.id.removeprefix("www.")}
    for origin in site.origins:
        if origin != "*":
            host = urlsplit(origin).hostname
            if host:
                hosts.add(host.removeprefix("www."))
    goals = tuple(
        GoalSpec(g.display_name, g.event, g.page, tuple(sorted(g.props.items())))
        for g in site.goals
    )
    return SiteSpec(site.id, tuple(sorted(hosts)), goals)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RuleSet)


def encode_rules(rules: RuleSet) -> bytes:
    return _encoder.encode(rules)


def decode_rules(data: bytes) -> RuleSet:
    return _decoder.decode(data)


def _page_pattern(page: str) -> re.Pattern[str]:
    # `*` matches any run of characters (also across `/`), like Plausible's
    # page goals; everything else is literal.
    return re.compile("^" + ".*".join(re.escape(part) for part in page.split("*")) + "$")


Conditions = tuple[tuple[str, str], ...]


def _holds(conditions: Conditions, props: Mapping[str, PropValue]) -> bool:
    """Every condition's property is there with that value (as its text, the
    form filters and breakdowns show: `true`, `42`)."""
    for key, value in conditions:
        if key not in props or prop_text(props[key]) != value:
            return False
    return True


class SiteRules:
    """One site's rules, prepared once for fast matching."""

    def __init__(self, spec: SiteSpec) -> None:
        self.site_id = spec.site_id
        self.own_hosts = frozenset(spec.own_hosts)
        self._event_goals: dict[str, list[tuple[str, Conditions]]] = {}
        self._page_goals: list[tuple[re.Pattern[str], str, Conditions]] = []
        # A configured goal of a built-in conversion's name owns that name:
        # its conditions decide, not the built-in rule.
        self._names = frozenset(goal.name for goal in spec.goals)
        for goal in spec.goals:
            if goal.event:
                self._event_goals.setdefault(goal.event, []).append((goal.name, goal.props))
            else:
                self._page_goals.append((_page_pattern(goal.page), goal.name, goal.props))

    def goals_of(self, ev: IncomingEvent) -> tuple[str, ...]:
        """Names of the goals this event completes."""
        props = ev.props
        if ev.event_type == PAGEVIEW:
            return tuple(
                name
                for pattern, name, cond in self._page_goals
                if pattern.match(ev.path) and (not cond or _holds(cond, props))
            )
        found = [
            name
            for name, cond in self._event_goals.get(ev.event_type, ())
            if not cond or _holds(cond, props)
        ]
        name = ev.event_type
        if name in BUILTIN_CONVERSIONS and name not in found and name not in self._names:
            found.append(name)
        return tuple(found)


def prepare(rules: RuleSet) -> dict[str, SiteRules]:
    return {s.site_id: SiteRules(s) for s in rules.sites}


def rules_for(sites: Iterable[SiteConfig]) -> dict[str, SiteRules]:
    return prepare(rule_set(sites))


@lru_cache(maxsize=4096)
def _own_hosts_with(own: frozenset[str], hostname: str) -> frozenset[str]:
    return own | {hostname.removeprefix("www.")} if hostname else own


def classify_event(ev: IncomingEvent, rules: SiteRules | None) -> tuple[Source, tuple[str, ...]]:
    """The traffic source of an event and the goals it completes."""
    own = rules.own_hosts if rules is not None else frozenset()
    utm = ev.utm
    source = classify(
        ev.referrer,
        utm.get("utm_source", ""),
        utm.get("utm_medium", ""),
        ev.click_id,
        _own_hosts_with(own, ev.hostname),
        utm.get("utm_campaign", ""),
    )
    return source, rules.goals_of(ev) if rules is not None else ()


def enrich(rec: Record, rules: Mapping[str, SiteRules]) -> EnrichedRecord:
    """The record with its source and goals; one enriched elsewhere keeps
    what its edge found."""
    if rec.source is not None:
        source, goals = rec.source, rec.goals
    else:
        source, goals = classify_event(rec.event, rules.get(rec.event.site_id))
    r = rec
    return EnrichedRecord(
        r.event_id, r.received_ms, r.visitor, r.prev_visitor, r.client, r.geo, r.lang,
        source, goals, r.event,
    )  # fmt: skip


class RuleBook:
    """The rule set of each stored sequence range, prepared for matching.

    Built from the spool's (first sequence, encoded rule set) pairs; a record
    gets the rule set with the greatest first sequence at or below its own.
    Records older than every kept rule set (a spool that held records before
    rules were stored) get the oldest one.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._prepared: list[dict[str, SiteRules]] = []
        self._seen: list[tuple[int, bytes]] = []

    def update(self, kept: list[tuple[int, bytes]]) -> None:
        """Take the spool's current list (cheap when it did not change)."""
        if kept == self._seen:
            return
        # Two reloads with no event between them store under one start.
        known = dict(zip(self._seen, self._prepared, strict=True))
        self._starts = [start for start, _ in kept]
        self._prepared = [known.get(k) or prepare(decode_rules(k[1])) for k in kept]
        self._seen = list(kept)

    def for_seq(self, seq: int) -> dict[str, SiteRules]:
        if not self._starts:
            return {}
        i = bisect_right(self._starts, seq) - 1
        return self._prepared[max(i, 0)]
