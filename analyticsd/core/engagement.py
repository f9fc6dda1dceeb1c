"""What one engagement event adds to the engagement rows (pure).

Plausible's tracker sends an `engagement` event when a page view ends (the
tab is hidden, the page left, a single-page app changes route): `sd`, the
deepest the page was scrolled so far (%), and `e`, the time it was engaged
with since the previous one (ms). So engaged time is summed as it comes,
while scroll depth counts once per page of a visit, at its deepest: each
event adds only what it scrolled further than the deepest already counted.
The rows then give Plausible's page metrics: scroll depth = scroll sum /
scroll count, time on page = engaged time / the page's visitors.
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

    `scrolled` is the visit's deepest scroll counted per page, updated here."""
    depth, before = ev.scroll_depth, scrolled.get(ev.path)
    scroll = n = 0
    if depth is not None and (before is None or depth > before):
        scroll, n = depth - (before or 0), int(before is None)
        scrolled[ev.path] = depth
    engaged = ev.engaged_ms or 0
    if not (engaged or scroll or n):
        return
    hour, day = buckets
    for gran, bucket in ((HOUR, hour), (DAY, day)):
        batch.add_engagement((site, gran, bucket, SITE, ""), engaged)
        batch.add_engagement((site, gran, bucket, PAGE, ev.path), engaged, scroll, n)
