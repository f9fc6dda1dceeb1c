"""Funnels and retention cohorts over per-event rows (pure).

Funnel
  An actor (a visitor id, or a userId) converts through ordered steps. Each
  step matches an event name, or a page view of a path (`*` wildcards), and
  optionally property values. The whole chain must fit in the conversion
  window, measured from the step-1 event (a step exactly `window_s` later
  still counts).
  * loose order: each step is a later event than the previous one; other
    events may happen in between.
  * strict order: each step is the actor's very next event after the
    previous step; any other event in between breaks the chain.
  For every actor the step-1 occurrence that gets furthest is used (the
  earliest among equals), so a late second attempt that completes counts.

Retention
  Users (userId) fall in the cohort of the period (day, week from Monday,
  month) of their first start event in the range. Period k's retention is the
  share of the cohort with a return event in the k-th period after; period 0
  is the cohort itself. Periods that have not happened yet are null, and the
  overall curve weighs each cohort by its size over the cohorts that reached
  that period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from analyticsd.core.aggregate import buckets, month_of, prop_text
from analyticsd.core.query import glob_regex

ORDERS = ("loose", "strict")
COHORT_PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Step:
    name: str
    event: str = ""
    page: str = ""
    props: tuple[tuple[str, str], ...] = ()

    def matches(self, name: str, path: str, props: dict[str, Any]) -> bool:
        if self.event:
            if name != self.event:
                return False
        elif name != "pageview" or not glob_regex(self.page).match(path):
            return False
        return all(k in props and prop_text(props[k]) == v for k, v in self.props)


@dataclass(frozen=True)
class FunnelDef:
    name: str
    steps: tuple[Step, ...]
    window_s: int = 86_400
    order: str = "loose"


Event = tuple[int, str, str, dict[str, Any]]  # ts ms, name, path, props


def _chain(events: Sequence[Event], start: int, f: FunnelDef) -> list[int]:
    """Timestamps of the steps reached from the step-1 event at `start`."""
    window_ms = f.window_s * 1000
    t0 = events[start][0]
    times, j = [t0], start
    for step in f.steps[1:]:
        if f.order == "strict":
            k = j + 1
            if k >= len(events) or not step.matches(*events[k][1:]):
                break
        else:
            k = next((i for i in range(j + 1, len(events)) if step.matches(*events[i][1:])), -1)
            if k < 0:
                break
        if events[k][0] - t0 > window_ms:
            break
        times.append(events[k][0])
        j = k
    return times


def actor_progress(events: Sequence[Event], f: FunnelDef) -> list[int]:
    """The step times of one actor's best attempt ([] if step 1 never happened)."""
    best: list[int] = []
    first = f.steps[0]
    for i, ev in enumerate(events):
        if first.matches(*ev[1:]):
            times = _chain(events, i, f)
            if len(times) > len(best):
                best = times
                if len(best) == len(f.steps):
                    break
    return best


def funnel(actors: Iterable[Sequence[Event]], f: FunnelDef) -> dict[str, Any]:
    """The funnel of actors' full event lists (the reference: storage runs
    `masked_progress` on rows its SQL matched against the steps)."""
    return funnel_answer((actor_progress(events, f) for events in actors), f)


# One actor's event as the store hands it: (ts ms, step bitmask, position).
# Bit k is set when the event matches step k; the position is the event's
# index among all of the actor's events (so strict order can tell that two
# matched events were adjacent without seeing the events in between).
Masked = tuple[int, int, int]


def masked_progress(events: Sequence[Masked], n: int, window_s: int, strict: bool) -> list[int]:
    """`actor_progress` on the actor's events that match some step.

    The same answer: in loose order events matching no step are skipped
    anyway; in strict order a step must be the very next event, which is
    `position + 1`."""
    window_ms = window_s * 1000
    best: list[int] = []
    size = len(events)
    for i in range(size):
        t0, mask, _ = events[i]
        if not mask & 1:
            continue
        times, j = [t0], i
        for k in range(1, n):
            bit = 1 << k
            if strict:
                nxt = j + 1
                if nxt >= size or events[nxt][2] != events[j][2] + 1 or not events[nxt][1] & bit:
                    break
            else:
                nxt = j + 1
                while nxt < size and not events[nxt][1] & bit:
                    nxt += 1
                if nxt >= size:
                    break
            if events[nxt][0] - t0 > window_ms:
                break
            times.append(events[nxt][0])
            j = nxt
        if len(times) > len(best):
            best = times
            if len(best) == n:
                break
    return best


def funnel_answer(progress: Iterable[list[int]], f: FunnelDef) -> dict[str, Any]:
    """The answer from every actor's best attempt (its step times)."""
    n = len(f.steps)
    reached = [0] * n
    gap_sum = [0] * n
    total_time = 0
    for times in progress:
        for k in range(len(times)):
            reached[k] += 1
            if k:
                gap_sum[k] += times[k] - times[k - 1]
        if len(times) == n:
            total_time += times[-1] - times[0]
    return funnel_of_totals(reached, gap_sum, total_time, f)


def funnel_of_totals(
    reached: Sequence[int], gap_sum: Sequence[int], total_time: int, f: FunnelDef
) -> dict[str, Any]:
    """The answer from the actors' best attempts summed up: how many reached
    each step, the sum of their times from the step before (ms), and of
    their times from the first step to the last (those who completed)."""
    steps = []
    for k, step in enumerate(f.steps):
        prev = reached[k - 1] if k else reached[0]
        steps.append(
            {
                "name": step.name,
                "visitors": reached[k],
                "conversion_rate": round(100 * reached[k] / prev, 2) if prev else 0,
                "conversion_rate_total": round(100 * reached[k] / reached[0], 2)
                if reached[0]
                else 0,
                "drop_off": prev - reached[k],
                "drop_off_rate": round(100 * (prev - reached[k]) / prev, 2) if prev else 0,
                "avg_time_from_previous_s": round(gap_sum[k] / reached[k] / 1000, 1)
                if k and reached[k]
                else None,
            }
        )
    return {
        "name": f.name,
        "order": f.order,
        "window_s": f.window_s,
        "steps": steps,
        "overall_conversion_rate": round(100 * reached[-1] / reached[0], 2) if reached[0] else 0,
        "avg_time_to_convert_s": round(total_time / reached[-1] / 1000, 1) if reached[-1] else None,
    }


def period_of(day: int, period: str) -> int:
    if period == "week":
        return (day + 3) // 7
    if period == "month":
        return month_of(day)
    return day


def retention(
    rows: Iterable[tuple[str, int, str]],
    tz: str,
    period: str,
    periods: int,
    first_day: int,
    last_day: int,
    today: int,
    start_event: str = "",
    return_event: str = "",
) -> tuple[list[tuple[int, int, list[int | None]]], list[float | None]]:
    """rows: (user, ts, event name) from the range start to now.

    Returns ([(cohort period, size, retained count per period or None)],
    the overall curve in percent)."""
    cohort: dict[str, int] = {}
    active: dict[str, set[int]] = {}
    for user, ts, name in rows:
        day = buckets(ts, tz)[1]
        p = period_of(day, period)
        if (
            user not in cohort
            and first_day <= day <= last_day
            and (not start_event or name == start_event)
        ):
            cohort[user] = p
        if not return_event or name == return_event:
            active.setdefault(user, set()).add(p)
    return _retention_matrix(cohort, active, period, periods, today)


def retention_of_days(
    rows: Iterable[tuple[str, int, bool, bool]],
    period: str,
    periods: int,
    first_day: int,
    last_day: int,
    today: int,
) -> tuple[list[tuple[int, int, list[int | None]]], list[float | None]]:
    """`retention` from (user, local day, has a start event, has a return
    event) rows, one per user and day with events (the store groups them in
    SQL). The same answer: a user's cohort is the period of the first day in
    the range with a start event, its active periods those with a return."""
    first_seen: dict[str, int] = {}
    active: dict[str, set[int]] = {}
    for user, day, starts, returns in rows:
        if starts and first_day <= day <= last_day:
            seen = first_seen.get(user)
            if seen is None or day < seen:
                first_seen[user] = day
        if returns:
            active.setdefault(user, set()).add(period_of(day, period))
    cohort = {user: period_of(day, period) for user, day in first_seen.items()}
    return _retention_matrix(cohort, active, period, periods, today)


def _retention_matrix(
    cohort: dict[str, int], active: dict[str, set[int]], period: str, periods: int, today: int
) -> tuple[list[tuple[int, int, list[int | None]]], list[float | None]]:
    now = period_of(today, period)
    sizes: dict[int, int] = {}
    counts: dict[int, list[int]] = {}
    for user, c in cohort.items():
        sizes[c] = sizes.get(c, 0) + 1
        row = counts.setdefault(c, [0] * (periods + 1))
        row[0] += 1
        seen = active.get(user, set())
        for k in range(1, periods + 1):
            if c + k in seen:
                row[k] += 1
    matrix: list[tuple[int, int, list[int | None]]] = []
    for c in sorted(sizes):
        matrix.append((c, sizes[c], [v if c + k <= now else None for k, v in enumerate(counts[c])]))
    curve: list[float | None] = []
    for k in range(periods + 1):
        num = sum(r[k] or 0 for _, _, r in matrix if r[k] is not None)
        den = sum(size for _, size, r in matrix if r[k] is not None)
        curve.append(round(100 * num / den, 2) if den else None)
    return matrix, curve
