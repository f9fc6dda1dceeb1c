"""The flush batch: the additive row deltas, revenue and per-event rows of one flush (pure).

Every counter lives in one row keyed by (site, granularity, bucket,
dimension, value) and holds eight integers, the vector V_*: visitors, visits,
pageviews, events, bounces, visit duration (ms), engaged visits, conversions.
Revenue is summed per currency in rows of its own (amount in millionths of
the unit, so sums are exact, and a count). Engagement (what Plausible's
`engagement` events report) has rows of its own too, the vector E_*: engaged
time (ms), the sum and count of the deepest scroll (%) of each page of a
visit, and the count of engaged visit-pages (the time on page's divisor);
under SITE (engaged time and visit-pages only) and PAGE.

Invariants:

* Rows are deltas: a batch adds to what SQLite holds, so batches can be
  merged (a failed flush is put back) and WEEK and MONTH rows are derived
  from the DAY rows of the same batch, in the same transaction.
* The aggregation accumulates into the batch of the next flush; rows are
  made on first use (a zero vector), so only values that occurred make rows,
  and rows still all zero are not written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import msgspec

from analyticsd.core.buckets import DAY, HOUR, MONTH, WEEK, month_of, week_of
from analyticsd.core.dimensions import SITE, Pair
from analyticsd.core.sessions import Session

if TYPE_CHECKING:  # contributions builds on the vectors and rows defined here
    from analyticsd.core.contributions import Contribution

V_VISITORS, V_VISITS, V_PAGEVIEWS, V_EVENTS = 0, 1, 2, 3
V_BOUNCES, V_DURATION, V_ENGAGED, V_CONVERSIONS = 4, 5, 6, 7
VECTOR_LEN = 8
E_ENGAGED_MS, E_SCROLL_SUM, E_SCROLL_N, E_VISITS = 0, 1, 2, 3

Key = tuple[str, int, int, int, str]  # site, granularity, bucket, dimension, value
RevKey = tuple[str, int, int, int, str, str]  # ... + currency
BucketKey = tuple[str, int, int]  # site, granularity, bucket
# The rows of one bucket by (dim, value): missing rows appear as zeros.
Rows: TypeAlias = "defaultdict[Pair, list[int]]"


def _zero_vector() -> list[int]:
    return [0] * VECTOR_LEN


def new_rows() -> Rows:
    return defaultdict(_zero_vector)


def new_buckets() -> defaultdict[BucketKey, Rows]:
    return defaultdict(new_rows)


def add_into(acc: list[int], vector: Iterable[int]) -> None:
    """acc += vector, element by element."""
    for i, x in enumerate(vector):
        acc[i] += x


def micros(amount: str) -> int | None:
    """A decimal amount in millionths of the unit, or None if it is no number."""
    try:
        return int((Decimal(amount) * 1_000_000).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


class EventRow(NamedTuple):
    """One per-event row (no IP, no user agent): funnels, exports, recounts."""

    site: str
    ts: int
    session: int
    visitor: int
    name: str
    path: str
    props: str | None
    goals: str | None
    revenue_micros: int | None
    currency: str | None
    user_id: str | None
    event_id: str


@dataclass
class FlushBatch:
    """Everything one flush writes, in one transaction."""

    last_seq: int = 0
    watermark_ms: int = 0
    # (site, granularity, bucket) → (dim, value) → vector; see flat_rows.
    buckets: defaultdict[BucketKey, Rows] = field(default_factory=new_buckets)
    revenue: dict[RevKey, list[int]] = field(default_factory=dict)
    engagement: dict[Key, list[int]] = field(default_factory=dict)
    events: list[EventRow] = field(default_factory=list)
    # The visits settled into these rows, with what they now contribute.
    sessions: list[tuple[Session, Contribution]] = field(default_factory=list)
    n_events: int = 0

    def add_revenue(self, key: RevKey, amount: int, n: int = 1) -> None:
        rev = self.revenue.get(key)
        if rev is None:
            rev = self.revenue[key] = [0, 0]
        rev[0] += amount
        rev[1] += n

    def add_engagement(
        self, key: Key, engaged_ms: int, scroll: int = 0, n: int = 0, visits: int = 0
    ) -> None:
        row = self.engagement.get(key)
        if row is None:
            row = self.engagement[key] = [0, 0, 0, 0]
        row[E_ENGAGED_MS] += engaged_ms
        row[E_SCROLL_SUM] += scroll
        row[E_SCROLL_N] += n
        row[E_VISITS] += visits

    def put_back(self, older: FlushBatch) -> None:
        """Add the counts of an older batch that was not written (events first)."""
        for bkey, old_rows in older.buckets.items():
            rows = self.buckets[bkey]
            for p, vector in old_rows.items():
                add_into(rows[p], vector)
        for rkey, (amount, n) in older.revenue.items():
            self.add_revenue(rkey, amount, n)
        for ekey, vector in older.engagement.items():
            self.add_engagement(ekey, *vector)
        self.events[:0] = older.events
        self.n_events += older.n_events

    def flat_rows(self) -> Iterator[tuple[str | int, ...]]:
        """One tuple per non-zero row: key then vector, then the WEEK and
        MONTH rows the DAY rows add up to. Run in the flush thread: with many
        rows it is too long a stretch for the event loop.

        HOUR rows are the site's totals only: an hourly series with a filter
        or a breakdown reads the per-event rows (the column store), and the
        hour rows of every dimension value were 40 % of the rollup rows on
        the benchmark fixture (1.8 of 4.8 million), read by nothing else."""
        sums: defaultdict[Key, list[int]] = defaultdict(_zero_vector)
        for (site, gran, bucket), rows in self.buckets.items():
            day = gran == DAY
            hour = gran == HOUR
            for (dim, value), v in rows.items():
                if hour and dim != SITE:
                    continue
                if any(v):
                    yield (site, gran, bucket, dim, value, *v)
                    if day:
                        add_into(sums[(site, WEEK, week_of(bucket), dim, value)], v)
                        add_into(sums[(site, MONTH, month_of(bucket), dim, value)], v)
        for key, v in sums.items():
            if any(v):
                yield (*key, *v)

    def revenue_rows(self) -> Iterator[tuple[str | int, ...]]:
        """Revenue rows, plus the WEEK and MONTH rows their DAY rows add up to."""
        sums = FlushBatch()
        for (site, gran, bucket, dim, value, cur), (amount, n) in self.revenue.items():
            yield (site, gran, bucket, dim, value, cur, amount, n)
            if gran == DAY:
                for g, b in ((WEEK, week_of(bucket)), (MONTH, month_of(bucket))):
                    sums.add_revenue((site, g, b, dim, value, cur), amount, n)
        for key, (amount, n) in sums.revenue.items():
            yield (*key, amount, n)

    def engagement_rows(self) -> Iterator[tuple[str | int, ...]]:
        """Engagement rows, plus the WEEK and MONTH rows their DAY rows add up to."""
        sums = FlushBatch()
        for (site, gran, bucket, dim, value), vector in self.engagement.items():
            yield (site, gran, bucket, dim, value, *vector)
            if gran == DAY:
                for g, b in ((WEEK, week_of(bucket)), (MONTH, month_of(bucket))):
                    sums.add_engagement((site, g, b, dim, value), *vector)
        for key, vector in sums.engagement.items():
            yield (*key, *vector)

    @property
    def rows(self) -> dict[Key, list[int]]:
        """The non-zero rows by full key (for tests and small batches)."""
        return {
            (site, gran, bucket, dim, value): v
            for (site, gran, bucket), rows in self.buckets.items()
            for (dim, value), v in rows.items()
            if any(v)
        }


_json_encoder = msgspec.json.Encoder()


def json_text(value: object) -> str:
    return _json_encoder.encode(value).decode()
