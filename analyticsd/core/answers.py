"""Counters of one group of a stats answer, and the metrics derived from them (pure).

Both query engines (rollup rows and per-event rows) fill the same `Acc`
counters per (group value, bucket); the metrics of the API (rates, means,
money) are computed from them in one place, so the engines cannot disagree
on what a metric means.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

COLUMNS_OF = {
    "visitors": ("visitors",),
    "visits": ("visits",),
    "pageviews": ("pageviews",),
    "events": ("events",),
    "views_per_visit": ("pageviews", "visits"),
    "bounce_rate": ("bounces", "visits"),
    "visit_duration": ("duration_ms", "visits"),
    "engaged_visits": ("engaged",),
    "engagement_rate": ("engaged", "visits"),
    "conversion_rate": ("visitors",),
}


def columns_for(metrics: Iterable[str]) -> frozenset[str]:
    return frozenset(c for m in metrics for c in COLUMNS_OF.get(m, ()))


@dataclass
class Acc:
    """Counters of one (group, bucket) before metrics are derived from them."""

    visitors: int = 0
    visits: int = 0
    pageviews: int = 0
    events: int = 0
    bounces: int = 0
    duration_ms: int = 0
    engaged: int = 0  # engaged visits (core.sessions.Session.engaged)
    conversions: int = 0
    revenue: dict[str, list[int]] = field(default_factory=dict)  # currency → [micros, n]
    custom: dict[str, float | None] = field(default_factory=dict)
    # Engagement rows (core.engagement): engaged ms, deepest-scroll sum and
    # count, engaged visit-pages (a page's visits with an engagement event,
    # not the engaged visits above).
    engaged_ms: int = 0
    scroll_sum: int = 0
    scroll_n: int = 0
    engaged_pages: int = 0

    def add_vector(self, v: Sequence[int]) -> None:
        # METRIC_COLUMNS order: visitors, visits, pageviews, events, bounces,
        # duration_ms, engaged, conversions
        self.visitors += v[0]
        self.visits += v[1]
        self.pageviews += v[2]
        self.events += v[3]
        self.bounces += v[4]
        self.duration_ms += v[5]
        self.engaged += v[6]
        self.conversions += v[7]

    def add_engagement(self, engaged_ms: int, scroll_sum: int, scroll_n: int, visits: int) -> None:
        self.engaged_ms += engaged_ms
        self.scroll_sum += scroll_sum
        self.scroll_n += scroll_n
        self.engaged_pages += visits

    def add_revenue(self, currency: str, micros: int, n: int) -> None:
        r = self.revenue.setdefault(currency, [0, 0])
        r[0] += micros
        r[1] += n


Grouped = dict[tuple[str, int], Acc]  # (group value, bucket) → counters


def _money(micros: float) -> float:
    return round(micros / 1_000_000, 2)


def metric_values(acc: Acc, metrics: Sequence[str], total_visitors: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    visits = acc.visits
    for m in metrics:
        if m == "visitors":
            out[m] = acc.visitors
        elif m == "visits":
            out[m] = visits
        elif m == "pageviews":
            out[m] = acc.pageviews
        elif m == "events":
            out[m] = acc.events
        elif m == "views_per_visit":
            out[m] = round(acc.pageviews / visits, 2) if visits else 0
        elif m == "bounce_rate":
            out[m] = round(100 * acc.bounces / visits) if visits else 0
        elif m == "engaged_visits":
            out[m] = acc.engaged
        elif m == "engagement_rate":
            # As bounce_rate: a whole %, 0 without visits.
            out[m] = round(100 * acc.engaged / visits) if visits else 0
        elif m == "visit_duration":
            out[m] = round(acc.duration_ms / visits / 1000) if visits else 0
        elif m == "conversion_rate":
            out[m] = round(100 * acc.visitors / total_visitors, 2) if total_visitors else 0
        elif m == "scroll_depth":
            # Plausible's: the mean of each visit's deepest scroll of the
            # page, a whole %; null without any (its current answer; its
            # older tests said 0).
            out[m] = round(acc.scroll_sum / acc.scroll_n) if acc.scroll_n else None
        elif m == "time_on_page":
            # Engaged seconds per engaged visit of the page; null without any.
            out[m] = round(acc.engaged_ms / acc.engaged_pages / 1000) if acc.engaged_pages else None
        elif m == "revenue":
            out[m] = {c: _money(v[0]) for c, v in sorted(acc.revenue.items())}
        elif m == "average_revenue":
            out[m] = {c: _money(v[0] / v[1]) for c, v in sorted(acc.revenue.items()) if v[1]}
        else:
            out[m] = acc.custom.get(m)
    return out


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation between the
    closest ranks; None of no values (see storage.eventsql.Percentile)."""
    if not values:
        return None
    xs = sorted(values)
    rank = p / 100 * (len(xs) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)
