"""Start the real daemon as a subprocess on a free port and talk HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests import web

TEST_SITE = "test_site"


def recent_events(n: int, path_prefix: str, n_paths: int) -> list[dict[str, Any]]:
    """`n` page views with their own eventIds, a minute old, over `n_paths` paths."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return [
        {
            "siteId": TEST_SITE,
            "eventType": "pageview",
            "path": f"{path_prefix}{i % n_paths}",
            "timestamp": ts,
            "eventId": str(uuid.uuid4()),
        }
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(
    tmp: Path,
    port: int,
    *,
    flush_interval_s: float = 0.1,
    quiet_flush_s: float = 0.5,
    spool_max_bytes: int = 64 * 1024 * 1024,
    extra: str = "",
    timezone: str = "UTC",
    read_timeout_s: float = 10.0,
    trusted_proxies: str = '"127.0.0.1/32"',
    site_extra: str = "",
    geoip: str = "",
    memory_mb: int | None = None,
    aggregator_extra: str = "",
    storage_extra: str = "",
) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "analyticsd.toml"
    path.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
trusted_proxies = [{trusted_proxies}]
max_body_bytes = 65536
read_timeout_s = {read_timeout_s}

[storage]
data_dir = "{tmp / "data"}"
spool_max_bytes = {spool_max_bytes}
{storage_extra}

[aggregator]
flush_interval_s = {flush_interval_s}
quiet_flush_s = {quiet_flush_s}
{"" if memory_mb is None else f"memory_mb = {memory_mb}"}
{aggregator_extra}

[geoip]
database = "{geoip}"

[[sites]]
id = "{TEST_SITE}"
origins = ["https://test.example"]
timezone = "{timezone}"
{site_extra}

[[sites]]
id = "other.example"
origins = ["https://other.example"]
timezone = "Europe/Berlin"
{extra}
""")
    return path


@dataclass
class Daemon:
    config: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # server.admin_listen as configured ("unix:PATH" absolute, or HOST:PORT):
    # health is asked there, the public listener no longer serves it.
    admin: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "analyticsd", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self, failpoint: str | None = None, timeout: float = 20.0) -> None:
        env = {**os.environ, **self.env}
        env.pop("ANALYTICSD_FAILPOINT", None)
        if failpoint:
            env["ANALYTICSD_FAILPOINT"] = failpoint
        self.log_path = self.config.parent / "daemon.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "analyticsd", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited early:\n{self.log()}")
            try:
                if self.admin_get("/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.wait()

    def admin_get(self, path: str, timeout: float = 5) -> httpx.Response:
        """GET on the listener that serves health and metrics."""
        if self.admin.startswith("unix:"):
            sock = self.admin[len("unix:") :]
            # httpcore leaks the socket of a failed unix connect: probe first.
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(sock)
                except OSError as e:
                    raise httpx.ConnectError(f"{sock}: {e}") from e
            transport = httpx.HTTPTransport(uds=sock)
            with httpx.Client(transport=transport, timeout=timeout) as c:
                return c.get(f"http://admin{path}")
        base = f"http://{self.admin}" if self.admin else self.url
        return web.get(f"{base}{path}", timeout=timeout)

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self.admin_get("/api/health").json()
        return data

    def wait_caught_up(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the aggregator has flushed everything the spool holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.health()
            if h["aggregator"]["lag_events"] == 0:
                return h
            time.sleep(0.05)
        raise AssertionError(f"aggregator did not catch up: {json.dumps(self.health())}")

    def token(self) -> str:
        """A token that reads every site: the first configured one, else the
        one the daemon made in its data dir (none configured)."""
        cfg = tomllib.loads(self.config.read_text())
        for t in cfg.get("api", {}).get("tokens", []):
            if isinstance(t, str):
                return t
        data_dir = Path(cfg.get("storage", {}).get("data_dir", "var"))
        if not data_dir.is_absolute():
            data_dir = self.config.parent / data_dir
        return (data_dir / "api.token").read_text().strip()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def stats(self, date: str, site: str = TEST_SITE) -> httpx.Response:
        return web.get(
            f"{self.url}/api/stats",
            params={"siteId": site, "date": date},
            headers=self.auth(),
            timeout=5,
        )


@contextmanager
def running_daemon(tmp: Path, **config: Any) -> Iterator[Daemon]:
    port = free_port()
    d = Daemon(write_config(tmp, port, **config), port)
    d.start()
    try:
        yield d
    finally:
        d.kill()


def send_all(
    workers: int, url: str, events: list[dict[str, Any]], acked: set[str], on_ack: Any = None
) -> list[int]:
    """Send single events from `workers` threads, adding the eventId of each
    202 to `acked`; returns every status seen (0 = no answer)."""
    lock = threading.Lock()
    statuses: list[int] = []

    def work(chunk: list[dict[str, Any]]) -> None:
        with web.Client(timeout=10) as client:
            for ev in chunk:
                try:
                    status = client.post(f"{url}/api/event", json=ev).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses.append(status)
                    if status == 202:
                        acked.add(ev["eventId"])
                        if on_ack is not None:
                            on_ack(len(acked))

    chunks = [events[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, chunks))
    return statuses
