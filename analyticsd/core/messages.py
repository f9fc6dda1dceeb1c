"""Typed messages between the receiver, the actors and the spool.

Frozen where they travel unchanged; `Append` carries its result back (which
records were new, or the error) because the spool fills it in inside the
transaction that decides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from analyticsd.core.errors import SpoolError

if TYPE_CHECKING:
    from analyticsd.core.enrich import SiteRules


class PendingRecord(NamedTuple):  # a tuple: built per event on the hot path
    event_id: str
    data: bytes
    # True when the client chose the eventId (it may send it again); ids we
    # minted ourselves cannot repeat and skip the dedupe index.
    indexed: bool = True


@dataclass
class Append:
    """Records of one request; stored all together or not at all."""

    records: Sequence[PendingRecord]
    # Filled in by `write`: per record, True if new, False if a duplicate.
    stored: list[bool] = field(default_factory=list)
    error: SpoolError | None = None


@dataclass
class PublishRules:
    """Make `rules` (an encoded enrichment rule set) apply to every record
    numbered from this commit on; a no-op when they equal the latest."""

    rules: bytes
    # Filled in by `write`: the first sequence these rules apply to.
    start_seq: int = 0


@dataclass
class Advance:
    """Move a consumer's durable cursor (records up to `seq` are done)."""

    consumer: str
    seq: int


WriteOp = Append | Advance | PublishRules


@dataclass(frozen=True)
class DayStats:
    """One site-day as the stats endpoint reports it."""

    site_id: str
    day: str
    pageviews: int
    visitors: int
    top_paths: list[tuple[str, int]]
    visits: int = 0
    bounces: int = 0
    duration_ms: int = 0
    bot_pageviews: int = 0


@dataclass(frozen=True)
class RecomputeDay:
    """Rebuild one site-day's rollups from its per-event rows (the aggregator
    does it between flushes: storage.recompute), with the site's goal rules
    in force now (None: the site has none)."""

    site: str
    day: int
    tz: str
    rules: SiteRules | None


@dataclass(frozen=True)
class Recomputed:
    """The answer: how many per-event rows the day was rebuilt from, or why not."""

    events: int = 0
    error: str | None = None
