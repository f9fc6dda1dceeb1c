"""Interpreter tuning for the daemon process, in one place.

Each knob says what it fixes and which benchmark shows it (`make bench`,
bench/run.py); change one only with that benchmark run side by side.

* Switch interval 0.5 ms (default 5 ms). Spool commits finish in a worker
  thread that must take the GIL back from the event loop; under load the
  default interval adds up to 5 ms to every acknowledgement. Seen in the
  paced 1,000 req/s line (p99) and the single-event ingest ratio.
* No automatic full garbage collections; one every FULL_GC_INTERVAL_S
  instead. A full collection scans every live object: with the visits and
  unique-visitor marks in memory that is a 30-100 ms pause of the event
  loop, which the interpreter otherwise triggers every few seconds under
  load. Young generations are still collected automatically. Seen in the
  paced line's p99.
* `gc.freeze()` after start: what is loaded by then (libraries, config, the
  app) lives as long as the process, so it is kept out of every later scan
  (each young collection walks less). Same benchmark line.
"""

from __future__ import annotations

import gc
import sys

import trio

SWITCH_INTERVAL_S = 0.0005
FULL_GC_INTERVAL_S = 300.0


def before_start() -> None:
    """Process-wide settings, before the event loop starts."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def after_start(nursery: trio.Nursery) -> None:
    """Once every actor runs: freeze what is loaded, run full GCs on a clock."""
    gc.collect()
    gc.freeze()
    nursery.start_soon(_collect_garbage, FULL_GC_INTERVAL_S)


async def _collect_garbage(interval_s: float) -> None:
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, 1_000_000_000)  # no automatic full collection
    while True:
        await trio.sleep(interval_s)
        gc.collect()
