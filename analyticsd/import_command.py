"""`analyticsd import plausible --site S FILE.zip`: the command around
storage.plausible_import (its output, its progress bar).

Errors are the package's (ExportError, StatsStoreError, AnalyticsdError):
the CLI prints their one line and exits 1. Standard output gets the summary
only, so a script can read it; the bar goes to stderr, and only on a
terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from analyticsd.core.aggregate import day_label, day_number
from analyticsd.core.buckets import zone
from analyticsd.core.config import Config
from analyticsd.core.errors import AnalyticsdError
from analyticsd.storage.plausible_import import ImportResult, import_export

BAR_WIDTH = 30


def progress_bar(tty: bool) -> Callable[[int, int, str], None]:
    """A bar on stderr on a terminal; nothing otherwise (logs, pipes)."""
    if not tty:
        return lambda done, total, name: None
    last = [-1]

    def show(done: int, total: int, name: str) -> None:
        pct = min(100, done * 100 // max(total, 1))
        if pct == last[0]:
            return  # redrawn once per percent, not per batch
        last[0] = pct
        bar = "#" * (pct * BAR_WIDTH // 100)
        short = name.rsplit("/", 1)[-1][:40]
        print(f"\r[{bar:<{BAR_WIDTH}}] {pct:3d}% {short:<40}", end="", file=sys.stderr, flush=True)

    return show


def summary(r: ImportResult) -> list[str]:
    rows = sum(r.rows.values())
    lines = [
        f"imported {day_label(r.first_day)} to {day_label(r.last_day)} for {r.site}: "
        f"{r.pageviews:,} page views, {r.visitors:,} visitors ({rows:,} rows in "
        f"{len(r.rows)} files); imported rows of these days from before were replaced"
    ]
    if r.clamped_from is not None:
        lines.append(
            f"the export runs to {day_label(r.clamped_from)}; the days after "
            f"{day_label(r.last_day)} were left out, the site has live counts from then"
        )
    return lines


def run_import(cfg: Config, source: str, site_id: str, path: str) -> int:
    if source != "plausible":
        raise AnalyticsdError(f"cannot import from {source!r}; only plausible")
    site = cfg.site(site_id)
    if site is None:
        raise AnalyticsdError(f"--site {site_id!r} is not a configured site")
    today = day_number(datetime.now(zone(site.timezone)).date().isoformat())
    tty = sys.stderr.isatty()
    try:
        r = import_export(
            cfg.storage.data_dir,
            site.id,
            path,
            int(time.time() * 1000),
            today,
            progress_bar(tty),
        )
    finally:
        if tty:
            print(file=sys.stderr)  # the bar's line ends before any message
    for line in summary(r):
        print(line)
    return 0
