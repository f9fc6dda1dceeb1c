"""A full disk under the data dir: 503s, never an exit, and recovery by itself.

The data dir is a small tmpfs of its own (mounting needs root, as CI has;
elsewhere the test is skipped with that reason). A filler file takes the
space the daemon has not used, then events are sent until the spool refuses
them; freeing the filler must let everything acknowledged be counted once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, recent_events, write_config

SIZE = "24m"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the data dir needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                f.write(chunk)
                f.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    return filler


def send_until_refused(d: Daemon, limit_s: float = 20.0) -> tuple[int, set[int]]:
    """Batches until the spool answers 503; (events acknowledged, statuses seen)."""
    acked, statuses = 0, set()
    deadline = time.monotonic() + limit_s
    with web.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            body = {"events": recent_events(50, "/full/", 7)}
            r = client.post(f"{d.url}/api/batch", json=body)
            statuses.add(r.status_code)
            if r.status_code == 202:
                acked += len(r.json()["accepted"])
            elif r.status_code == 503:
                assert r.headers.get("retry-after"), r.text
                break
    return acked, statuses


def counted_today(d: Daemon) -> int:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    r = web.get(f"{d.url}/api/stats", params={"siteId": TEST_SITE, "date": day}, timeout=5)
    return int(r.json()["totalViews"])


def start_on(tmp: Path) -> Daemon:
    port = free_port()
    # A quota far above the disk: the disk, not the quota, is what runs out.
    d = Daemon(write_config(tmp, port, spool_max_bytes=1 << 30), port)
    d.start()
    return d


def test_a_full_disk_is_503_and_everything_is_counted_once_space_returns(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as disk:
        d = start_on(tmp_path)
        try:
            before, _ = send_until_refused(d, limit_s=1.0)  # a few acknowledged first
            filler = fill(disk)
            acked, statuses = send_until_refused(d)
            assert statuses <= {202, 503}
            assert 503 in statuses, "the spool never refused on a full disk"
            h = d.health()
            assert h["disk_full"], h
            assert any("disk full" in p for p in h["problems"]), h["problems"]
            status = d.cli("status")
            assert "PROBLEM" in status.stdout
            assert d.proc is not None
            assert d.proc.poll() is None  # still running
            filler.unlink()
            deadline = time.monotonic() + 10
            total = before + acked
            while counted_today(d) < total and time.monotonic() < deadline:
                time.sleep(0.1)
            assert counted_today(d) == total
            # The refusal is reported until an event is stored again.
            r = web.post(f"{d.url}/api/batch", json={"events": recent_events(5, "/ok/", 1)})
            assert r.status_code == 202
            assert d.wait_caught_up()["problems"] == []
            assert counted_today(d) == total + 5
        finally:
            d.stop()


def test_sigterm_on_a_full_disk_stays_within_the_stop_budget(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as disk:
        d = start_on(tmp_path)
        try:
            send_until_refused(d, limit_s=1.0)
            filler = fill(disk)
            _, statuses = send_until_refused(d)
            assert 503 in statuses
            started = time.monotonic()
            d.signal(signal.SIGTERM)
            assert d.wait(timeout=12) == 0
            assert time.monotonic() - started < 9.0  # the 7 s budget, plus exit
        finally:
            with contextlib.suppress(httpx.HTTPError, OSError):
                d.stop()
        filler.unlink()


def test_a_start_on_a_full_disk_serves_reads_and_refuses_ingest(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as disk:
        d = start_on(tmp_path)
        try:
            before, _ = send_until_refused(d, limit_s=1.0)
            d.wait_caught_up()
        finally:
            d.stop()
        filler = fill(disk)
        d.start()
        try:
            assert counted_today(d) == before  # reads are served
            # The released reserve takes a few batches, then the disk is full.
            acked, statuses = send_until_refused(d)
            assert statuses <= {202, 503}
            assert 503 in statuses
            assert d.health()["disk_full"]
            filler.unlink()
            r = web.post(f"{d.url}/api/batch", json={"events": recent_events(5, "/ok/", 1)})
            assert r.status_code == 202
            d.wait_caught_up()
            assert counted_today(d) == before + acked + 5
        finally:
            d.stop()
