"""Resident memory against distinct visitors in one site-day.

`python -m bench.memory [--visitors 1000000] [--memory-mb N] [--compare]`

Every visitor is new (its own X-Forwarded-For address behind the trusted
loopback proxy) and sends one batch of 3 page views now; paths follow the
bench mix (Zipf over 500 pages). At each checkpoint the pipeline is drained
(every event counted and flushed) before RSS is read, so the figure is what
the daemon keeps, not a queue. This is the harsh case: all the visits are
inside their 30-minute window at once, as a day's visitors never are.

`--compare` runs the same traffic a second time with an unlimited budget and
checks that visitors, visits and bounces are identical.

Loopback only; the sender is bounded by the visitor count and a deadline.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import SITE, free_port, health, process, write_config
from bench.payloads import path

CHECKPOINTS = (10_000, 50_000, 200_000, 500_000, 1_000_000)
SENDERS = 4
PIPELINE = 64  # requests in flight per connection
DEADLINE_S = 3600
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def ip_of(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def request(port: int, n: int) -> bytes:
    # Seeded by the visitor: both runs of --compare send the same pages.
    rnd = random.Random(n)
    pages = [path(rnd) for _ in range(3)]
    body = json.dumps(
        {
            "events": [
                {"siteId": SITE, "eventType": "pageview", "path": p, "referrer": ref}
                for p, ref in zip(pages, ["https://news.example/", "", ""], strict=True)
            ]
        }
    ).encode()
    head = (
        f"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {UA}\r\n"
        f"X-Forwarded-For: {ip_of(n)}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_STATUS = re.compile(rb"HTTP/1\.1 (\d{3})")
_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")


def send_range(port: int, first: int, last: int, errors: list[str]) -> None:
    """Visitors first..last-1 over one keep-alive connection, pipelined."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        buf = b""
        n = first
        while n < last:
            k = min(PIPELINE, last - n)
            sock.sendall(b"".join(request(port, i) for i in range(n, n + k)))
            got = 0
            while got < k:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        raise RuntimeError("connection closed")
                    buf += chunk
                    continue
                head = buf[:head_end]
                length = int(_LENGTH.search(head).group(1))  # type: ignore[union-attr]
                if len(buf) < head_end + 4 + length:
                    buf += sock.recv(1 << 16)
                    continue
                status = _STATUS.match(head).group(1)  # type: ignore[union-attr]
                if status != b"202":
                    errors.append(buf[: head_end + 4 + length].decode(errors="replace"))
                buf = buf[head_end + 4 + length :]
                got += 1
            n += k


def send(port: int, first: int, last: int) -> None:
    errors: list[str] = []
    step = (last - first + SENDERS - 1) // SENDERS
    threads = [
        threading.Thread(
            target=send_range, args=(port, a, min(a + step, last), errors), daemon=True
        )
        for a in range(first, last, step)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    if errors:
        raise RuntimeError(f"{len(errors)} requests refused, e.g. {errors[0][:300]}")


def drained(base: str, limit_s: float = 600) -> None:
    """Every event read and flushed (nothing waits in memory either)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        a = health(base)["aggregator"]
        if a["lag_events"] == 0 and a["pending_events"] == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the pipeline did not drain")


def rss(pid: int) -> dict[str, float]:
    text = Path(f"/proc/{pid}/status").read_text()
    out = {}
    for key in ("VmRSS", "RssAnon", "VmHWM"):
        m = re.search(rf"{key}:\s+(\d+) kB", text)
        out[key] = int(m.group(1)) / 1024 if m else float("nan")
    return out


TOKEN = "bench-memory-token"


def counts(base: str) -> dict[str, Any]:
    """Today's totals and the per-page and per-source visitors: every kind
    of unique-visitor row the marks decide."""
    day = datetime.now(UTC).date().isoformat()
    common = {"site_id": SITE, "period": "day", "date": day}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
        r = c.get(
            "/api/v1/stats/aggregate",
            params=common | {"metrics": "visitors,visits,pageviews,bounce_rate,visit_duration"},
        )
        r.raise_for_status()
        out["totals"] = {k: v["value"] for k, v in r.json()["results"].items()}
        for prop in ("event:page", "visit:source", "visit:browser"):
            r = c.get(
                "/api/v1/stats/breakdown",
                params=common | {"property": prop, "metrics": "visitors,visits", "limit": 1000},
            )
            r.raise_for_status()
            out[prop] = sorted(json.dumps(row, sort_keys=True) for row in r.json()["results"])
    return out


def summary(c: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c["totals"].items())


def run(tmp: Path, visitors: int, memory_mb: int | None) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    extra = f'[api]\ntokens = ["{TOKEN}"]\n'
    if memory_mb is not None:
        extra += f"[aggregator]\nmemory_mb = {memory_mb}\n"
    cfg = write_config(tmp, port, extra)
    args = [sys.executable, "-m", "analyticsd", "run", "--config", str(cfg)]
    points = [c for c in CHECKPOINTS if c < visitors] + [visitors]
    res: dict[str, Any] = {"memory_mb": memory_mb, "points": []}
    with process(args, port, tmp / "analyticsd.log") as proc:
        drained(base)
        res["idle"] = rss(proc.pid)
        print(f"  idle: RSS {res['idle']['VmRSS']:6.1f} MB (anon {res['idle']['RssAnon']:6.1f})")
        sent, started = 0, time.monotonic()
        for point in points:
            send(port, sent, point)
            sent = point
            drained(base)
            mem = health(base)["aggregator"].get("memory") or {}
            r = rss(proc.pid) | {"visitors": point, "elapsed_s": time.monotonic() - started}
            r["kept_mb"] = mem.get("resident_bytes", 0) / 2**20
            res["points"].append(r)
            print(
                f"  {point:>9,} visitors: RSS {r['VmRSS']:6.1f} MB "
                f"(anon {r['RssAnon']:6.1f}, peak {r['VmHWM']:6.1f}; aggregator keeps "
                f"{r['kept_mb']:5.1f}) after {r['elapsed_s']:.0f} s",
                flush=True,
            )
        res["counts"] = counts(base)
    return res


def growth(points: list[dict[str, Any]]) -> float:
    """Bytes of RSS per visitor between the last two checkpoints."""
    if len(points) < 2:
        return float("nan")
    a, b = points[-2], points[-1]
    return (b["VmRSS"] - a["VmRSS"]) * 1024 * 1024 / (b["visitors"] - a["visitors"])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--visitors", type=int, default=CHECKPOINTS[-1])
    parser.add_argument("--memory-mb", type=int, default=None, help="default: the config default")
    parser.add_argument("--compare", action="store_true", help="also run unlimited, compare counts")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="analyticsd-bench-mem-") as tmp:
        print(f"budget {a.memory_mb or 'default'}:", flush=True)
        limited = run(Path(tmp) / "limited", a.visitors, a.memory_mb)
        print(
            f"  counts: {summary(limited['counts'])}; growth over the last step "
            f"{growth(limited['points']):.0f} B/visitor",
            flush=True,
        )
        if a.compare:
            print("budget unlimited (0):", flush=True)
            free = run(Path(tmp) / "unlimited", a.visitors, 0)
            same = free["counts"] == limited["counts"]
            for key in free["counts"]:
                a, b = limited["counts"][key], free["counts"][key]
                if a != b:
                    if isinstance(a, list):
                        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
                        print(f"  {key}: budget only {only_a[:5]}, no budget only {only_b[:5]}")
                    else:
                        print(f"  {key}: budget {a}, no budget {b}")
            print(
                f"  counts: {summary(free['counts'])}: {'identical' if same else 'DIFFERENT'}",
                flush=True,
            )
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
