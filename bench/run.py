"""`make bench`: drive a real analyticsd over loopback and print its figures.

In one run, on this machine, with the same wrk settings for all three:
  * reference A: a bare ASGI endpoint on hypercorn's trio worker;
  * reference B: a minimal trio + h11 server that parses the JSON, answers 202;
  * analyticsd: durable single-event ingest, batched ingest (50 events per
    request), ack latency at a paced 1,000 req/s, end-to-end lag (202 →
    visible in /api/stats), drain time, peak RSS, and a count check that every
    accepted event was aggregated;
  * forwarding (bench/forwarding.py): the drain rate of a 100,000-event
    backlog after a Redis outage, and a hub's consume rate.
Every load loop is bounded in count and time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trio

from bench import enrichment, forwarding, queries
from bench.common import (
    LAG_SITE,
    SITE,
    extract_rev,
    free_port,
    health,
    process,
    source_env,
    views_today,
    wait_drained,
    write_config,
)
from bench.paced import paced_run
from bench.payloads import event_body

HERE = Path(__file__).resolve().parent
WRK = ["wrk", "-t1", "-c32", "-d8s", "--timeout", "5s", "-s", str(HERE / "mix.lua")]
BATCH = 50
PACED_RATE, PACED_SECONDS = 1000, 10
# The sustained batched rate (ingest + drain to SQLite) of the first version,
# from its README; enrichment must keep at least 80% of it.
FOUNDATION_SUSTAINED = 16_353


class RssSampler:
    """Peak anonymous and file-backed resident memory of a process, sampled.

    VmHWM alone mixes the heap with pages of the LMDB map the kernel keeps
    resident (file-backed page cache, reclaimable); both are reported.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for key in self.peak:
                m = re.search(rf"{key}:\s+(\d+) kB", text)
                if m:
                    self.peak[key] = max(self.peak[key], int(m.group(1)))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {k: v / 1024 for k, v in self.peak.items()}


def wrk(url: str, batch: int = 0) -> dict[str, Any]:
    env = {**os.environ, "SITE": SITE, "BATCH": str(batch)}
    out = subprocess.run(
        [*WRK, url], capture_output=True, text=True, env=env, timeout=60, check=True
    ).stdout
    result: dict[str, Any] = json.loads(re.search(r"RESULT (\{.*\})", out).group(1))  # type: ignore[union-attr]
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["non_2xx"] = result["status_errors"]
    return result


def reference(module: str, tmp: Path) -> float:
    port = free_port()
    with process([sys.executable, "-m", module, str(port)], port, tmp / f"{module}.log"):
        return float(wrk(f"http://127.0.0.1:{port}")["rps"])


def e2e_lag(base: str, samples: int = 4) -> list[float]:
    lags = []
    with httpx.Client(timeout=10) as client:
        for i in range(samples):
            before = views_today(base, LAG_SITE)
            r = client.post(
                f"{base}/api/event",
                content=event_body(LAG_SITE, f"/lag/{i}"),
                headers={"Content-Type": "text/plain"},
            )
            assert r.status_code == 202, r.text
            acked = time.monotonic()
            while views_today(base, LAG_SITE) == before:
                if time.monotonic() - acked > 30:
                    raise RuntimeError("event never became visible")
                time.sleep(0.01)
            lags.append(time.monotonic() - acked)
    return lags


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def paced(port: int, label: str) -> dict[str, Any]:
    latencies, errors = trio.run(paced_run, "127.0.0.1", port, PACED_RATE, PACED_SECONDS, SITE)
    return {
        f"paced_{label}_requests": len(latencies),
        f"paced_{label}_errors": len(errors),
        f"paced_{label}_p50_ms": pct(latencies, 50) * 1000,
        f"paced_{label}_p99_ms": pct(latencies, 99) * 1000,
    }


def run_daemon_benchmarks(tmp: Path, source: Path | None = None) -> dict[str, Any]:
    """The daemon's ingest figures; `source`: another tree's daemon instead."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = write_config(tmp, port)
    args = [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)]
    res: dict[str, Any] = {}
    with process(args, port, tmp / "analyticsd.log", env=source_env(source), cwd=source) as proc:
        sampler = RssSampler(proc.pid)
        res |= paced(port, "fresh")  # steady traffic on a fresh daemon
        single = wrk(base)
        wait_drained(base)  # each phase starts from a quiet pipeline
        t0 = time.monotonic()
        batched = wrk(base, batch=BATCH)
        drain_s = wait_drained(base)
        load_s = batched["duration_us"] / 1e6
        res |= {
            "single_rps": single["rps"],
            "single_p50_ms": single["p50_us"] / 1000,
            "single_p99_ms": single["p99_us"] / 1000,
            "single_non_2xx": single["non_2xx"],
            "batch_events_per_s": batched["rps"] * BATCH,
            "batch_non_2xx": batched["non_2xx"],
            "batch_drain_s": drain_s,
            "batch_sustained_events_per_s": batched["requests"] * BATCH / (time.monotonic() - t0),
            "load_s": load_s,
        }
        wait_drained(base)
        res |= paced(port, "after")
        wait_drained(base)
        lags = e2e_lag(base)
        res |= {"lag_mean_s": sum(lags) / len(lags), "lag_max_s": max(lags)}
        # The daemon's own count of acknowledged events (wrk's request count
        # misses requests still in flight when it stops) against what the
        # stats say: every 202 must be counted, exactly once.
        accepted = int(health(base)["ingest"]["accepted_total"])
        counted = views_today(base, SITE) + views_today(base, LAG_SITE)
        res |= {"accepted_events": accepted, "counted_events": counted}
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        res["peak_rss_mb"] = int(hwm.group(1)) / 1024 if hwm else float("nan")
        peaks = sampler.stop()
        res["peak_rss_anon_mb"], res["peak_rss_file_mb"] = peaks["RssAnon"], peaks["RssFile"]
        res["spool_bytes_on_disk"] = sum(p.stat().st_size for p in (tmp / "data").rglob("*"))
    return res


def report(r: dict[str, Any], full: bool = True) -> str:
    ratio_hc = r["single_rps"] / r["ref_hypercorn_rps"]
    ratio_h11 = r["single_rps"] / r["ref_h11_rps"]
    rows = [
        ("reference: bare ASGI on hypercorn (trio worker)", f"{r['ref_hypercorn_rps']:,.0f} req/s"),
        ("reference: minimal trio + h11 server", f"{r['ref_h11_rps']:,.0f} req/s"),
        (
            "analyticsd single-event ingest (fsynced)",
            f"{r['single_rps']:,.0f} req/s = {ratio_h11:.2f}x trio+h11, {ratio_hc:.2f}x hypercorn",
        ),
        (
            "  ack latency under that load (32 conns)",
            f"p50 {r['single_p50_ms']:.1f} ms, p99 {r['single_p99_ms']:.1f} ms",
        ),
        (
            f"analyticsd batched ingest ({BATCH}/request)",
            f"{r['batch_events_per_s']:,.0f} events/s accepted",
        ),
        (
            "  incl. draining to SQLite afterwards",
            f"{r['batch_sustained_events_per_s']:,.0f} events/s (drain {r['batch_drain_s']:.1f} s)",
        ),
        (
            f"ack latency at a paced {PACED_RATE} req/s, fresh daemon",
            f"p50 {r['paced_fresh_p50_ms']:.2f} ms, p99 {r['paced_fresh_p99_ms']:.2f} ms "
            f"({r['paced_fresh_requests']} requests, {r['paced_fresh_errors']} errors)",
        ),
        (
            "  the same after the floods above",
            f"p50 {r['paced_after_p50_ms']:.2f} ms, p99 {r['paced_after_p99_ms']:.2f} ms "
            f"({r['paced_after_requests']} requests, {r['paced_after_errors']} errors)",
        ),
        (
            "end-to-end lag (202 -> visible in /api/stats)",
            f"mean {r['lag_mean_s']:.2f} s, max {r['lag_max_s']:.2f} s (flush_interval_s = 5)",
        ),
        (
            "peak RSS of the daemon (VmHWM)",
            f"{r['peak_rss_mb']:.0f} MB (peaks: anon {r['peak_rss_anon_mb']:.0f} MB, "
            f"file-backed {r['peak_rss_file_mb']:.0f} MB, mostly the LMDB map)",
        ),
        (
            "  vs the first version's 16,353 events/s",
            f"{r['batch_sustained_events_per_s'] / FOUNDATION_SUSTAINED:.0%} (target >= 80%)",
        ),
        (
            f"enrichment in isolation ({r['enrich_distinct_uas']:,} distinct UAs, cold cache)",
            f"{r['enrich_events_per_s']:,.0f} events/s (target >= 20,000)",
        ),
        (
            "  the same with the bundled country database",
            f"{r['enrich_bundled_events_per_s']:,.0f} events/s (20,000 public IPv4 addresses, "
            f"{r['enrich_bundled_located']:.1%} of the browsers' events located)",
        ),
        (
            "GeoIP lookup alone, bundled database",
            f"IPv4 {r['geo_bundled_v4_us']:.2f} us ({r['geo_bundled_v4_located']:.1%} located), "
            f"IPv6 {r['geo_bundled_v6_us']:.2f} us ({r['geo_bundled_v6_located']:.1%}); "
            f"a City database {r['geo_city_us']:.2f} us",
        ),
        (
            "aggregation in isolation: 5 events per visit",
            f"{r['aggregate_5_events_per_visit_events_per_s']:,.0f} events/s",
        ),
        (
            "  every event a new visitor (worst case)",
            f"{r['aggregate_new_visit_per_event_events_per_s']:,.0f} events/s",
        ),
        *(forwarding.report_rows(r) if full else []),
        *(queries.report_rows(r) if full else []),
        ("accepted vs counted events", f"{r['accepted_events']:,} / {r['counted_events']:,}"),
        ("non-2xx answers under load", f"{r['single_non_2xx'] + r['batch_non_2xx']}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument(
        "--ingest", action="store_true", help="only the references and the ingest figures"
    )
    parser.add_argument("--rev", help="with --ingest: run this git revision's daemon")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="analyticsd-bench-"))
    try:
        results: dict[str, Any] = {"cpus": os.cpu_count(), "when": datetime.now(UTC).isoformat()}
        results["ref_hypercorn_rps"] = reference("bench.ref_hypercorn", tmp)
        results["ref_h11_rps"] = reference("bench.ref_h11", tmp)
        source = extract_rev(args.rev, tmp / "source") if args.rev else None
        results |= enrichment.run()  # this tree's code, also with --rev
        results |= run_daemon_benchmarks(tmp, source)
        if not args.ingest:
            results |= forwarding.run(tmp / "forwarding")
            results |= queries.run(tmp)
        out_dir = HERE / "out"
        out_dir.mkdir(exist_ok=True)
        (out_dir / f"results-{args.rev or 'tree'}.json").write_text(json.dumps(results, indent=2))
        print(report(results, full=not args.ingest))
        ok = results["accepted_events"] == results["counted_events"]
        if not args.ingest:
            ok = ok and results["hub_counted"] == results["hub_consumed"] == forwarding.BACKLOG
        if not ok:
            print("MISMATCH: accepted (or consumed) and counted events differ", file=sys.stderr)
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
