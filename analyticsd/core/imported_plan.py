"""Whether a stats question can include imported data, and from which table (pure).

Plausible's rules (Plausible.Stats.Query.get_skip_imported_reason and
Imported.Base.decide_tables), in their order:

* no import for the site: `no_imported_data`;
* no import overlapping the range: `out_of_range`;
* a minute or hour series: `unsupported_interval` (imports are daily);
* the dimensions and filters must all be answered by one imported table
  (a source breakdown filtered by utm_medium: imported_sources; filtered by
  country: none), else `unsupported_query`. Goals come from the custom
  events table (event goals) and the pages table (page goals), with no
  other filter.

v2 filter trees (`contains`, `matches`, `or`, `not`, case-insensitive
tests) count like flat filters: every property they test must be in the
one table. Beyond Plausible's: a goal inside a filter tree, our custom
metrics and the properties whose imported values differ from the live ones
(region and city are codes and GeoNames ids in the export, custom
properties are not exported) are `unsupported_query`.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyticsd.core.query import Query
from analyticsd.core.v2filters import leaves

NO_DATA = "no_imported_data"
OUT_OF_RANGE = "out_of_range"
UNSUPPORTED_INTERVAL = "unsupported_interval"
UNSUPPORTED_QUERY = "unsupported_query"
WARNINGS = {
    UNSUPPORTED_QUERY: "Imported stats are not included in the results because query "
    "parameters are not supported. For more information, see: "
    "https://plausible.io/docs/stats-api#filtering-imported-stats",
    UNSUPPORTED_INTERVAL: "Imported stats are not included because the time dimension "
    "(i.e. the interval) is too short.",
}
GOALS = "goals"  # the plan of a goal question: custom events and pages

# Property → (imported table, the column its values are in). Joined values
# (browser version) are built from two columns (storage.imported).
PROP_TABLE: dict[str, tuple[str, str]] = {
    "visit:source": ("imported_sources", "source"),
    "visit:channel": ("imported_sources", "channel"),
    "visit:referrer": ("imported_sources", "referrer"),
    **{
        f"visit:utm_{k}": ("imported_sources", f"utm_{k}")
        for k in ("source", "medium", "campaign", "content", "term")
    },
    "visit:entry_page": ("imported_entry_pages", "entry_page"),
    "visit:exit_page": ("imported_exit_pages", "exit_page"),
    "visit:country": ("imported_locations", "country"),
    "visit:device": ("imported_devices", "device"),
    "visit:screen": ("imported_devices", "screen"),
    "visit:browser": ("imported_browsers", "browser"),
    "visit:browser_version": ("imported_browsers", "browser_version"),
    "visit:os": ("imported_operating_systems", "operating_system"),
    "visit:os_version": ("imported_operating_systems", "operating_system_version"),
    "event:page": ("imported_pages", "page"),
    "event:name": ("imported_custom_events", "name"),
}


@dataclass(frozen=True)
class Goal:
    """A configured goal as imports match it: an event name or a page pattern."""

    name: str  # display name
    event: str = ""
    page: str = ""


@dataclass(frozen=True)
class ImportPlan:
    table: str  # an imported table, GOALS, or "" when skipped
    reason: str | None = None  # why imports are skipped (None: included)
    goals: tuple[Goal, ...] = ()


def _skip(reason: str) -> ImportPlan:
    return ImportPlan("", reason)


def plan_imported(
    q: Query,
    ranges: list[tuple[int, int]],
    goals: tuple[Goal, ...],
    custom: frozenset[str] = frozenset(),
) -> ImportPlan:
    """Which imported rows answer q along with the live ones, or why none."""
    if not ranges:
        return _skip(NO_DATA)
    if not any(first <= q.range.last and q.range.first <= last for first, last in ranges):
        return _skip(OUT_OF_RANGE)
    if q.interval in ("minute", "hour"):
        return _skip(UNSUPPORTED_INTERVAL)
    if any(m in custom for m in q.metrics):
        return _skip(UNSUPPORTED_QUERY)
    tested = [leaf.dim for leaf, _ in leaves(q.where)]
    if "event:goal" in tested:
        return _skip(UNSUPPORTED_QUERY)
    props = [f.prop for f in q.filters] + tested + ([q.prop] if q.prop else []) + list(q.dims)
    if "event:goal" in props:
        if any(p != "event:goal" for p in props):
            return _skip(UNSUPPORTED_QUERY)
        wanted = {v for f in q.filters if f.prop == "event:goal" for v in f.values}
        chosen = tuple(g for g in goals if not wanted or g.name in wanted)
        return ImportPlan(GOALS, goals=chosen)
    tables = {PROP_TABLE[p][0] if p in PROP_TABLE else "" for p in props}
    if "" in tables or len(tables) > 1:
        return _skip(UNSUPPORTED_QUERY)
    return ImportPlan(tables.pop() if tables else "imported_visitors")
