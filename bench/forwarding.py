"""Forwarding and hub figures for `make bench`.

* Drain: an edge whose Redis is down accepts a backlog of BACKLOG events
  (all counted locally meanwhile); Redis comes up and we time until the
  forwarder's backlog is empty. Once with the default rate bound
  (forward.max_events_per_s) and once unbounded. While the bounded drain
  runs, single beacons are sent at a steady pace to show what live ingest
  sees meanwhile.
* Hub: a hub started on the resulting stream; timed until every entry is
  consumed (stored in its spool) and until every event is counted in SQLite.
Redis runs with AOF and `appendfsync always`, as the README recommends.
Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from bench.common import SITE, free_port, health, process, views_today, wait_port, write_config
from bench.payloads import event_body, user_agent

BACKLOG = 100_000
BATCH = 50
LIMIT_S = 300.0


def _wait(what: str, cond: Any, limit_s: float = LIMIT_S, every: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if cond():
            return time.monotonic() - start
        time.sleep(every)
    raise RuntimeError(f"timed out: {what}")


class Redis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make bench installs it)")
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                 "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _daemon(tmp: Path, port: int, section: str) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """The daemon with one more config section; stopped (SIGTERM) on exit."""
    cfg = write_config(tmp, port, extra=section)
    return process(
        [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)], port, tmp / "daemon.log"
    )


def _fill(base: str, n: int) -> None:
    """`n` events in batches of BATCH, each batch from one client."""
    with httpx.Client(timeout=30) as c:
        for i in range(n // BATCH):
            body = b'{"events":[' + b",".join(event_body(SITE) for _ in range(BATCH)) + b"]}"
            r = c.post(
                f"{base}/api/batch",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": user_agent(),
                    "X-Forwarded-For": f"10.{i % 200}.{i // 200 % 250}.{i % 97 + 1}",
                },
            )
            if r.status_code != 202:
                raise RuntimeError(f"fill: {r.status_code} {r.text}")


def _live_probe(base: str, until: Any, limit: int = 3000) -> list[float]:
    """Single beacons at ~50/s while `until()` is false: their ack latencies."""
    lat: list[float] = []
    with httpx.Client(timeout=10) as c:
        while not until() and len(lat) < limit:
            t = time.monotonic()
            headers = {"Content-Type": "text/plain", "User-Agent": user_agent()}
            r = c.post(f"{base}/api/event", content=event_body(SITE), headers=headers)
            if r.status_code == 202:
                lat.append(time.monotonic() - t)
            time.sleep(0.02)
    return lat


def _drain(tmp: Path, redis: Redis, stream: str, rate: int, probe: bool) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    section = f"""
[forward]
enabled = true
redis_url = "{redis.url}"
stream = "{stream}"
probe_interval_s = 0.2
max_backoff_s = 0.5
max_events_per_s = {rate}
"""
    with _daemon(tmp, port, section):
        _fill(base, BACKLOG)
        _wait("local counting", lambda: health(base)["aggregator"]["lag_events"] == 0)
        backlog = health(base)["forwarder"]["backlog_events"]
        redis.start()
        t0 = time.monotonic()

        def drained() -> bool:
            fw = health(base)["forwarder"]
            return bool(fw["state"] == "healthy" and fw["backlog_events"] == 0)

        lat = _live_probe(base, drained) if probe else []
        _wait("drain", drained)
        seconds = time.monotonic() - t0
        out = {"backlog": float(backlog), "seconds": seconds, "events_per_s": backlog / seconds}
        if lat:
            lat.sort()
            out["live_p50_ms"] = lat[len(lat) // 2] * 1000
            out["live_p99_ms"] = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
            out["live_requests"] = float(len(lat))
    redis.stop()
    return out


def _hub(tmp: Path, redis: Redis, stream: str, expected: int) -> dict[str, float]:
    redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    section = f"""
[hub]
enabled = true
redis_url = "{redis.url}"
stream = "{stream}"
"""
    with _daemon(tmp, port, section):  # timed from here: the hub is up and reading
        consumed = _wait(
            "hub consume",
            lambda: health(base)["hub"]["consumed_total"] >= expected,
        )
        counted = (
            _wait(
                "hub counting",
                lambda: health(base)["aggregator"]["lag_events"] == 0,
            )
            + consumed
        )
        total = health(base)["hub"]["consumed_total"]
        result = {
            "counted": float(views_today(base, SITE)),
            "consumed": float(total),
            "consume_s": consumed,
            "consume_events_per_s": total / consumed,
            "count_s": counted,
            "count_events_per_s": total / counted,
        }
    redis.stop()
    return result


def run(tmp: Path) -> dict[str, Any]:
    redis = Redis(tmp)
    try:  # each phase stops Redis itself; this covers a phase that failed
        bounded = _drain(tmp / "edge-bounded", redis, "bench:a", 20_000, probe=True)
        unbounded = _drain(tmp / "edge-unbounded", redis, "bench:b", 0, probe=False)
        hub = _hub(tmp / "hub", redis, "bench:b", BACKLOG)
    finally:
        redis.stop()
    res: dict[str, Any] = {}
    res |= {f"drain_bounded_{k}": v for k, v in bounded.items()}
    res |= {f"drain_unbounded_{k}": v for k, v in unbounded.items()}
    res |= {f"hub_{k}": v for k, v in hub.items()}
    return res


def report_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    b = {k[len("drain_bounded_") :]: v for k, v in r.items() if k.startswith("drain_bounded_")}
    u = {k[len("drain_unbounded_") :]: v for k, v in r.items() if k.startswith("drain_unbounded_")}
    h = {k[len("hub_") :]: v for k, v in r.items() if k.startswith("hub_")}
    return [
        (
            f"forwarder drain of a {b['backlog']:,.0f}-event backlog (bound 20,000/s)",
            f"{b['events_per_s']:,.0f} events/s ({b['seconds']:.1f} s); live beacons "
            f"meanwhile p50 {b.get('live_p50_ms', 0):.1f} ms, p99 {b.get('live_p99_ms', 0):.1f} ms",
        ),
        (
            "  the same, unbounded (max_events_per_s = 0)",
            f"{u['events_per_s']:,.0f} events/s ({u['seconds']:.1f} s)",
        ),
        (
            f"hub consume of {h['consumed']:,.0f} stream entries (counted {h['counted']:,.0f})",
            f"{h['consume_events_per_s']:,.0f} events/s stored and acked; "
            f"{h['count_events_per_s']:,.0f} events/s incl. counting in SQLite",
        ),
    ]


if __name__ == "__main__":
    import json
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="analyticsd-bench-fwd-"))
    try:
        results = run(work)
        print(json.dumps(results, indent=2))
        for k, v in report_rows(results):
            print(f"{k}  {v}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
