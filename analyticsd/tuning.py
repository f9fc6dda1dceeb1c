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
* Open-file limit: the soft RLIMIT_NOFILE raised to the hard limit. Each
  connection is a file descriptor, and the common soft default (1024) is
  below `max_connections` (1024) plus the spool, the database and the
  listeners: at the cap, accept would fail with EMFILE instead of the
  listener's own limits (idle eviction, per-client cap) deciding. The hard
  limit is what the administrator allows; the soft one is ours to raise.
  Seen in tests/e2e/test_connection_flood.py.
* Memory given back after a connection flood. Holding 2,000 hostile
  connections took ~26 MB that stayed resident once they had closed,
  though nothing of them was alive any more (tracemalloc: ~250 kB more
  than before). Two things kept it: the closed connections' reference
  cycles, which wait for the full collection every FULL_GC_INTERVAL_S,
  and memory freed to glibc's malloc (socket buffers, large objects),
  which glibc keeps mapped for reuse. So when the open connections fall
  from at least FLOOD_CONNECTIONS to a tenth of their peak, one full
  collection runs, then `trim_heap` hands the free heap pages back to the
  system (16 of the 26 MB). What stays (~10 MB) is pymalloc arenas
  kept by a few objects allocated during the flood; a second flood reuses
  them. Seen in tests/e2e/test_connection_flood.py.
* Freed heap given back: `trim_heap` (glibc's malloc_trim) after a flush,
  at most every TRIM_INTERVAL_S. The aggregator frees what a flush carried
  and what the memory budget moved to disk, but glibc keeps freed pages in
  the middle of its heap mapped, so RSS ratcheted up with every cycle:
  ~250 B per new visitor at a 32 MB budget, ~70 B with the trim
  (bench/memory.py). It runs in a worker thread (ctypes releases the GIL).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import resource
import sys
from collections.abc import Callable

import trio

SWITCH_INTERVAL_S = 0.0005
FULL_GC_INTERVAL_S = 300.0
# A flood: this many connections open at once; it is over at a tenth of its peak.
FLOOD_CONNECTIONS = 500
FLOOD_CHECK_S = 1.0
# Used when the hard limit is unlimited (some platforms refuse that as soft).
UNLIMITED_FILES = 1 << 20

TRIM_INTERVAL_S = 5.0

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


_trim = _malloc_trim()


def trim_heap() -> None:
    """Give freed heap pages back to the system (blocking; call in a thread)."""
    if _trim is not None:
        _trim(0)


def before_start() -> None:
    """Process-wide settings, before the event loop starts."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    raise_open_file_limit()


def raise_open_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit; a refusal is logged, not fatal."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-file limit from %d: %s", soft, e)


def after_start(nursery: trio.Nursery, open_connections: Callable[[], int]) -> None:
    """Once every actor runs: freeze what is loaded, run full GCs on a clock,
    give memory back after connection floods."""
    gc.collect()
    gc.freeze()
    nursery.start_soon(_collect_garbage, FULL_GC_INTERVAL_S)
    nursery.start_soon(_give_back_after_floods, open_connections)


async def _give_back_after_floods(open_connections: Callable[[], int]) -> None:
    peak = 0
    while True:
        await trio.sleep(FLOOD_CHECK_S)
        now = open_connections()
        peak = max(peak, now)
        if peak >= FLOOD_CONNECTIONS and now <= peak // 10:
            gc.collect()
            await trio.to_thread.run_sync(trim_heap)
            log.info("a flood of %d connections is over: memory given back", peak)
            peak = now


async def _collect_garbage(interval_s: float) -> None:
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, 1_000_000_000)  # no automatic full collection
    while True:
        await trio.sleep(interval_s)
        gc.collect()
