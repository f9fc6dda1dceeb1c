"""The aggregation-runs log: what one run of a job that writes the stats
database did, and how `analyticsd runs` shows it (pure).

A run is one flush (the rollup upserts, per-event rows and visits of a
batch, with the distinct-values cap folding values into `(other)` on the
way: `folded`), or one retention prune. A flush's run is written in the
flush's own transaction, so it is in the log exactly when the flush
committed; a failed run is written afterwards, best effort (storage.run_log).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

FLUSH = "flush"
PRUNE = "prune"
KINDS = (FLUSH, PRUNE)
OK = "ok"
FAILED = "failed"
OUTCOMES = (OK, FAILED)
# An error text is kept to this many characters (SQLite's messages are
# short; this bounds what a strange one costs the log).
MAX_ERROR_CHARS = 500


class Run(msgspec.Struct, frozen=True):
    started_ms: int  # wall clock, Unix ms
    duration_ms: int
    kind: str  # KINDS
    outcome: str  # OUTCOMES
    events: int = 0  # events the run counted (a flush) or 0
    rows: int = 0  # rows it wrote (a flush) or per-event rows it deleted (a prune)
    folded: int = 0  # values the cap folded into (other) (a flush)
    last_seq: int = 0  # the spool sequence a flush covers up to
    error: str = ""


def failed(run: Run, error: str) -> Run:
    """The same run, failed with `error` (nothing it wrote stayed)."""
    return msgspec.structs.replace(
        run, outcome=FAILED, rows=0, folded=0, error=error[:MAX_ERROR_CHARS]
    )


_AGO = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_since(text: str, now_ms: int) -> int:
    """`--since`: an age (`90m`, `6h`, `2d`) or an ISO date or time (UTC
    unless it names an offset) → Unix ms. ValueError says what is accepted."""
    m = _AGO.match(text.strip())
    if m:
        return now_ms - int(m.group(1)) * _UNIT_MS[m.group(2)]
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected an age like 90m, 6h or 2d, or a date or time "
            "like 2026-11-23 or 2026-11-23T10:00"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def as_json(run: Run) -> dict[str, object]:
    out = msgspec.structs.asdict(run)
    out["started_at"] = _when(run.started_ms)
    return out


_HEAD = ("started (UTC)", "kind", "outcome", "ms", "events", "rows", "folded", "error")


def render(runs: Sequence[Run]) -> str:
    """A table, oldest first (the newest at the bottom, as a log)."""
    if not runs:
        return "no aggregation runs logged in that time"
    lines = [
        (
            _when(r.started_ms),
            r.kind,
            r.outcome,
            str(r.duration_ms),
            str(r.events),
            str(r.rows),
            str(r.folded),
            r.error.replace("\n", " "),
        )
        for r in runs
    ]
    widths = [max(len(row[i]) for row in (_HEAD, *lines)) for i in range(len(_HEAD) - 1)]
    out = []
    for row in (_HEAD, *lines):
        cells = [c.rjust(w) if 3 <= i <= 6 else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=False))]  # fmt: skip
        out.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(out)
