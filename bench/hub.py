"""The hub's consume rate, this tree beside a reference revision, in one run.

`python -m bench.hub [--rev REV] [--rounds N] [--events N]` (`make bench`
runs it with REV=main, or `HUB_REF=...`): REV is extracted (git archive)
into a temporary folder; each round fills a fresh stream with the same
`--events` entries, as edges of this tree write them (origin and sequence
tags, which older hubs ignore), then starts REV's hub on one and this
tree's on the other, alternately, and times from the hub being up until
every entry is stored and acknowledged. Alternating in one run is what makes
the ratio meaningful on a machine whose speed drifts between runs.
Redis runs with AOF and `appendfsync always`, as the README recommends.
Loopback only; every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from analyticsd.core import stream_entry
from analyticsd.core.geo import NO_GEO
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.source import DIRECT, DIRECT_NAME, Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import ClientInfo
from bench.common import SITE, extract_rev, free_port, health, process, source_env, write_config
from bench.forwarding import Redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIMIT_S = 300.0
PAGES = ("/", "/pricing", "/docs", "/blog/a", "/blog/b")


def _entries(n: int) -> list[tuple[bytes, bytes]]:
    now = int(time.time() * 1000)
    client = ClientInfo("Firefox", "122.0", "Windows", "10", "Desktop", False)
    out = []
    for i in range(n):
        ev = IncomingEvent(
            site_id=SITE, event_type="pageview", path=PAGES[i % len(PAGES)],
            hostname="bench.example", timestamp_ms=now - i % 3_000_000, event_id=None,
            referrer="", props={}, revenue_amount=None, revenue_currency=None,
            session_id=None, user_id=None, screen_width=1920, utm={},
        )  # fmt: skip
        rec = EnrichedRecord(
            event_id=str(uuid.uuid4()), received_ms=now, visitor=f"{i % 5000:016x}",
            prev_visitor="", client=client, geo=NO_GEO, lang="en-US",
            source=Source(DIRECT, DIRECT_NAME, ""), goals=(), event=ev,
        )  # fmt: skip
        out.append(stream_entry.encode(rec))
    return out


def _fill(url: str, stream: str, entries: list[tuple[bytes, bytes]]) -> None:
    r = redis.Redis.from_url(url)
    for start in range(0, len(entries), 5000):
        pipe = r.pipeline(transaction=False)
        for seq, (eid, event) in enumerate(entries[start : start + 5000], start + 1):
            fields = {b"event_id": eid, b"event": event, b"origin": b"bench-edge"}
            pipe.xadd(stream, {**fields, b"seq": str(seq).encode()})
        pipe.execute()
    r.close()


def consume(source: Path | None, tmp: Path, url: str, stream: str, n: int) -> float:
    """Entries per second one hub (REV's with `source`) stores and acknowledges."""
    port = free_port()
    work = tmp / f"hub-{time.monotonic_ns()}"
    section = f'[hub]\nenabled = true\nredis_url = "{url}"\nstream = "{stream}"\n'
    cfg = write_config(work, port, extra=section)
    args = [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)]
    base = f"http://127.0.0.1:{port}"
    env, cwd = source_env(source), source or ROOT
    with process(args, port, work / "daemon.log", env=env, cwd=cwd):
        t0 = time.monotonic()
        while health(base)["hub"]["consumed_total"] < n:
            if time.monotonic() - t0 > LIMIT_S:
                raise RuntimeError(f"hub consume: timed out ({work / 'daemon.log'})")
            time.sleep(0.02)
        return n / (time.monotonic() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub")
    parser.add_argument("--rev", default="main", help="the reference revision (default main)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="analyticsd-bench-hub-") as tmp_s:
        tmp = Path(tmp_s)
        old = extract_rev(args.rev, tmp / "base")
        entries = _entries(args.events)
        rs = Redis(tmp)
        rs.start()
        ratios = []
        try:
            for r in range(1, args.rounds + 1):
                rates = {}
                for who, source in ((args.rev, old), ("this tree", None)):
                    stream = f"bench:hub:{r}:{'ref' if source else 'tree'}"
                    _fill(rs.url, stream, entries)
                    rates[who] = consume(source, tmp, rs.url, stream, args.events)
                ref, tree = rates[args.rev], rates["this tree"]
                ratios.append(tree / ref)
                print(
                    f"hub consume round {r}: {args.rev[:12]} {ref:,.0f} events/s, "
                    f"this tree {tree:,.0f} events/s: {tree / ref:.2f}x",
                    flush=True,
                )
        finally:
            rs.stop()
        ratios.sort()
        print(
            f"hub consume rate of this tree / {args.rev[:12]} ({args.events:,} entries): "
            f"median {ratios[len(ratios) // 2]:.2f}x (target >= 1.5x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
