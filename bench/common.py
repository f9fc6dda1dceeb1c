"""What the benchmark harnesses share: ports, daemon processes, the bench
config and the questions asked of a running daemon. Loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

SITE, LAG_SITE = "bench.example", "lag.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def process(
    args: list[str],
    port: int,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        wait_port(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_config(tmp: Path, port: int, extra: str = "") -> Path:
    """The bench daemon's config; `extra` adds sections ([forward], [hub])."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "bench.toml"
    cfg.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
trusted_proxies = ["127.0.0.1/32"]
[storage]
data_dir = "{tmp / "data"}"
[[sites]]
id = "{SITE}"
[[sites]]
id = "{LAG_SITE}"
{extra}
""")
    return cfg


def health(base: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{base}/api/health", timeout=10).json()
    return data


def wait_drained(base: str, limit_s: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        h = health(base)
        if h["aggregator"]["lag_events"] == 0:
            return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError("the pipeline did not drain")


def views_today(base: str, site: str) -> int:
    """Page views counted today, by browsers and by bots (counted apart)."""
    today = datetime.now(UTC).date().isoformat()
    r = httpx.get(f"{base}/api/stats", params={"siteId": site, "date": today}, timeout=10)
    if r.status_code != 200:
        return 0
    return int(r.json()["totalViews"]) + int(r.json()["botViews"])


def extract_rev(rev: str, folder: Path) -> Path:
    """REV's tree (git archive) in `folder`, to run its daemon beside this one's."""
    folder.mkdir(parents=True)
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def source_env(source: Path | None) -> dict[str, str] | None:
    """The environment that runs `source`'s package instead of this tree's."""
    return {**os.environ, "PYTHONPATH": str(source)} if source is not None else None
