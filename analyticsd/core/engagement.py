"""What one engagement event adds to the engagement rows (pure).

Plausible's tracker sends an `engagement` event when a page view ends (the
tab is hidden, the page left, a single-page app changes route): `sd`, the
deepest the page was scrolled so far (%), and `e`, the time it was engaged
with since the previous one (ms). So engaged time is summed as it comes,
while scroll depth counts once per page of a visit, at its deepest: each
event adds only what it scrolled further than the deepest already counted.
The first engagement event of a page of a visit also counts that visit-page
(`visits`). The rows then give Plausible's page metrics, which are per visit
and page: scroll depth = scroll sum / scroll count (the mean of each visit's
deepest scroll), time on page = engaged time / engaged visit-pages.
"""

from __future__ import annotations

from analyticsd.core.batch import FlushBatch
from analyticsd.core.buckets import DAY, HOUR
from analyticsd.core.dimensions import PAGE, SITE
from analyticsd.core.ingest import IncomingEvent


def count_engagement(
    batch: FlushBatch,
    scrolled: dict[str, int],
    site: str,
    ev: IncomingEvent,
    buckets: tuple[int, int],
) -> None:
    """Add `ev` to the SITE and PAGE rows of its hour and day.

    `scrolled` is the visit's deepest scroll counted per page, updated here
    (-1: the page was engaged with, no scroll depth yet)."""
    depth, before = ev.scroll_depth, scrolled.get(ev.path)
    first = int(before is None)
    deepest = -1 if before is None else before
    scroll = n = 0
    if depth is not None and depth > deepest:
        scroll, n = depth - max(deepest, 0), int(deepest < 0)
        deepest = depth
    scrolled[ev.path] = deepest
    engaged = ev.engaged_ms or 0
    if not (engaged or scroll or n or first):
        return
    hour, day = buckets
    for gran, bucket in ((HOUR, hour), (DAY, day)):
        batch.add_engagement((site, gran, bucket, SITE, ""), engaged, visits=first)
        batch.add_engagement((site, gran, bucket, PAGE, ev.path), engaged, scroll, n, first)
