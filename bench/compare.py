"""Side-by-side: the sustained batched rate of this tree against an older revision.

`python -m bench.compare REV [ROUNDS]` extracts REV (git archive) into a
temporary folder and, ROUNDS times, alternately runs that version's daemon and
this tree's through the same phase as `make bench`'s batched line: wrk with
`mix.lua`, 50 events per request, 8 s, then the time until every accepted
event is counted in SQLite. Alternating in one run is what makes the ratio
meaningful on a machine whose speed drifts by tens of percent between runs.
Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    extract_rev,
    free_port,
    health,
    process,
    source_env,
    wait_drained,
    write_config,
)
from bench.run import BATCH, wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def sustained(source: Path | None, tmp: Path) -> tuple[float, float, float]:
    """(events/s accepted, events/s including the drain, drain seconds)."""
    port = free_port()
    work = tmp / f"run-{time.monotonic_ns()}"
    work.mkdir()
    cfg = write_config(work, port)
    env = source_env(source)
    cwd = source or ROOT
    args = [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)]
    base = f"http://127.0.0.1:{port}"
    with process(args, port, work / "daemon.log", env=env, cwd=cwd):
        t0 = time.monotonic()
        load = wrk(base, batch=BATCH)
        drain = wait_drained(base)
        total = time.monotonic() - t0
        accepted = int(health(base)["ingest"]["accepted_total"])
    load_s = load["duration_us"] / 1e6
    return accepted / load_s, accepted / total, drain


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m bench.compare REV [ROUNDS]", file=sys.stderr)
        return 2
    rev, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="analyticsd-compare-") as tmp_s:
        tmp = Path(tmp_s)
        old = extract_rev(rev, tmp / "base")
        ratios = []
        for r in range(1, rounds + 1):
            b_acc, b_sus, b_drain = sustained(old, tmp)
            c_acc, c_sus, c_drain = sustained(None, tmp)
            ratios.append(c_sus / b_sus)
            print(
                f"round {r}: {rev[:12]} {b_sus:,.0f} events/s sustained "
                f"(accepted at {b_acc:,.0f}/s, drain {b_drain:.1f} s); this tree {c_sus:,.0f} "
                f"(accepted at {c_acc:,.0f}/s, drain {c_drain:.1f} s): {c_sus / b_sus:.0%}",
                flush=True,
            )
        ratios.sort()
        print(f"sustained rate of this tree / {rev[:12]}: median {ratios[len(ratios) // 2]:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
