"""Dimensions: what a row is counted under, as (dimension code, value) pairs (pure).

* A dimension is a small integer code (DIMENSIONS maps it to the property
  name of the Stats API); its value is a string, "" for the SITE totals.
  Two-part values are joined with SEP: "Chrome\\x1f120.0", and custom
  properties share one code with value "name\\x1fvalue".
* Event dimensions (SITE, page, goal, property) come from each event; visit
  dimensions (source, UTM, browser, country...) are fixed by the event that
  opened the visit and kept on it in SESSION_DIMS order.
* Empty values make no pair, except for the visit dimensions Plausible
  shows a row for when a visit has no value (`EMPTY_LABELS`: "Direct / None"
  for no referrer, "(not set)" for no UTM value, browser, OS or device):
  those keep the empty value's own pair, so its row counts exactly what
  Plausible's `(not set)` row counts (unique visitors are not additive: no
  subtraction from the totals could give them). The API shows and filters
  the label; the rows hold "" (core.query.stored_value / shown_value).
* Values are Plausible's (channels, browser and OS names, versions): a
  record enriched by an earlier version (in the spool across an upgrade)
  has its values mapped as it is counted (`plausible_client`).

Open visits hold many pairs, so equal pairs and joined values are shared
objects (`pair`, `_joined`): memory, and no key built per row on the hot path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import lru_cache

from analyticsd.core.ingest import UTM_FIELDS
from analyticsd.core.source import DIRECT_NAME, LEGACY_CHANNELS
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import LEGACY_BROWSERS, LEGACY_DEVICES, LEGACY_OSES, ClientInfo

SITE = 0
ENTRY_PAGE, EXIT_PAGE = 1, 2
PAGE, GOAL, PROP = 30, 31, 32
BOTS = 40
# Visit dimensions, in the order of Session.dims.
SESSION_DIMS: tuple[tuple[int, str], ...] = (
    (3, "visit:source"),
    (4, "visit:channel"),
    (5, "visit:referrer"),
    (6, "visit:utm_source"),
    (7, "visit:utm_medium"),
    (8, "visit:utm_campaign"),
    (9, "visit:utm_content"),
    (10, "visit:utm_term"),
    (11, "visit:browser"),
    (12, "visit:browser_version"),
    (13, "visit:os"),
    (14, "visit:os_version"),
    (15, "visit:device"),
    (16, "visit:country"),
    (17, "visit:region"),
    (18, "visit:city"),
    (19, "visit:screen"),
    (20, "visit:language"),
    (21, "visit:hostname"),
)
SESSION_DIM_CODES = tuple(code for code, _ in SESSION_DIMS)
DIMENSIONS: dict[int, str] = {
    SITE: "",
    ENTRY_PAGE: "visit:entry_page",
    EXIT_PAGE: "visit:exit_page",
    **dict(SESSION_DIMS),
    PAGE: "event:page",
    GOAL: "event:goal",
    PROP: "event:props",
    BOTS: "bots",
}
SITE_PAIR = (SITE, "")
BOTS_PAIR = (BOTS, "")
SEP = "\x1f"  # joins two-part values: "Chrome\x1f120.0", "plan\x1fpro"

# Visit dimensions that cannot differ between the visits of one visitor id
# (the id hashes the user agent and the address they are derived from; the
# language is taken as it first came). Their unique visitors follow from the
# SITE row's: no per-value marks are kept for them.
VISITOR_CONSTANT_DIMS = frozenset({11, 12, 13, 14, 15, 16, 17, 18, 20})

NOT_SET = "(not set)"
NO_PROP = "(none)"  # events without a custom property (Plausible's row and filter value)
# Visit dimensions whose empty value is a row of its own, and its label.
EMPTY_LABELS: dict[int, str] = {
    5: DIRECT_NAME,
    **dict.fromkeys((6, 7, 8, 9, 10), NOT_SET),
    **dict.fromkeys((11, 12, 13, 14, 15), NOT_SET),
}

Pair = tuple[int, str]
# (visitor-constant pairs, pairs that may differ per visit): see split_pairs.
SplitPairs = tuple[tuple[Pair, ...], tuple[Pair, ...]]


def screen_class(width: int | None) -> str:
    if width is None or width <= 0:
        return ""
    if width < 576:
        return "Mobile"
    if width < 992:
        return "Tablet"
    if width < 1440:
        return "Laptop"
    return "Desktop"


@lru_cache(maxsize=16384)
def _joined(a: str, b: str) -> str:
    """a\x1fb, one shared object per distinct value (visits hold many)."""
    return f"{a}{SEP}{b}" if a and b else ""


@lru_cache(maxsize=65536)
def pair(dim: int, value: str) -> Pair:
    """One shared tuple per distinct (dim, value): open visits hold many."""
    return (dim, value)


@lru_cache(maxsize=65536)
def shared_dims(dims: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple object per distinct set of visit dimensions: most visits
    share theirs with many others (same source, browser, country...), and
    an open visit's dims were ~190 bytes of its ~1.3 KB."""
    return dims


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


@lru_cache(maxsize=4096)
def plausible_client(c: ClientInfo) -> ClientInfo:
    """A client as this version names it: earlier versions wrote "macOS",
    "desktop", "Edge", versions with a patch level."""
    return ClientInfo(
        LEGACY_BROWSERS.get(c.browser, c.browser),
        major_minor(c.browser_version),
        LEGACY_OSES.get(c.os, c.os),
        major_minor(c.os_version),
        LEGACY_DEVICES.get(c.device, c.device),
        c.bot,
    )


def session_dims(rec: EnrichedRecord) -> tuple[str, ...]:
    """The visit dimension values a landing event gives its session (SESSION_DIMS order)."""
    ev, src, g = rec.event, rec.source, rec.geo
    c = plausible_client(rec.client)
    utm = ev.utm
    return shared_dims(
        (
            src.source,
            LEGACY_CHANNELS.get(src.channel, src.channel),
            src.referrer.rstrip("/"),
            *(utm.get(k, "") for k in UTM_FIELDS),
            c.browser,
            _joined(c.browser, c.browser_version),
            c.os,
            _joined(c.os, c.os_version),
            c.device,
            g.country,
            _joined(g.country, g.region) if g.region else "",
            _joined(g.country, g.city) if g.city else "",
            screen_class(ev.screen_width),
            rec.lang,
            ev.hostname,
        )
    )


def session_pairs(dims: tuple[str, ...]) -> list[Pair]:
    return [
        pair(code, v)
        for code, v in zip(SESSION_DIM_CODES, dims, strict=True)
        if v or code in EMPTY_LABELS
    ]


@lru_cache(maxsize=65536)
def split_pairs(dims: tuple[str, ...]) -> SplitPairs:
    """(visitor-constant pairs, pairs that may differ per visit); shared by
    the visits with equal dims, as their dims are (`shared_dims`)."""
    pairs = session_pairs(dims)
    return (
        tuple(p for p in pairs if p[0] in VISITOR_CONSTANT_DIMS),
        tuple(p for p in pairs if p[0] not in VISITOR_CONSTANT_DIMS),
    )


def event_pairs(
    pageview: bool, path: str, goals: Sequence[str], props: Collection[tuple[str, object]]
) -> list[Pair]:
    """The event-level pairs of one event: SITE, its page, goals and properties."""
    pairs = [SITE_PAIR, (PAGE, path)] if pageview else [SITE_PAIR]
    if goals:
        pairs += [(GOAL, g) for g in goals]
    if props:
        pairs += [(PROP, f"{k}{SEP}{prop_text(v)}") for k, v in props]
    return pairs


def prop_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
