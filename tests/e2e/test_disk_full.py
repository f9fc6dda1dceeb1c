"""A full disk under the data dir: 503s, never an exit, and recovery by itself.

The data dir is a small tmpfs of its own (mounting needs root, as CI has;
elsewhere the test is skipped with that reason). A filler file takes the
space the daemon has not used, then events are sent until the spool refuses
them, or a held flush of a large backlog is let go on a disk with 1 MiB
left, and fills it as it runs. Meanwhile only 202 and 503 are answered, no
connection is closed and the process stays up; health and `status` say
"disk full". Freeing twice the backlog's spool size (the filler cut short)
must let everything acknowledged be counted once within 10 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests import web
from tests.disk import fill, free_bytes, mount_tmpfs
from tests.helpers import Daemon, free_port, recent_events, write_config

SIZE = "24m"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    with mount_tmpfs(path, SIZE) as mounted:
        yield mounted


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
    r = d.stats(day)
    return int(r.json()["totalViews"])


def start_on(tmp: Path) -> Daemon:
    port = free_port()
    # A quota far above the disk: the disk, not the quota, is what runs out.
    d = Daemon(write_config(tmp, port, spool_max_bytes=1 << 30), port)
    d.start()
    return d


def spool_bytes(d: Daemon) -> int:
    return int(d.health()["spool"]["bytes"])


def give_back(filler: Path, n: int) -> None:
    """Free `n` bytes of the disk by cutting the filler short."""
    os.truncate(filler, max(filler.stat().st_size - n, 0))


def wait_counted(d: Daemon, total: int, within_s: float) -> int:
    started = time.monotonic()
    lag = d.health()["aggregator"]["lag_events"]
    while (n := counted_today(d)) < total and time.monotonic() < started + within_s:
        time.sleep(0.1)
    print(f"{lag} events behind, counted in {time.monotonic() - started:.1f} s")
    return n


@contextlib.contextmanager
def watched(d: Daemon) -> Iterator[list[str]]:
    """Health asked every 50 ms meanwhile; what went wrong is listed (the
    process gone, a connection closed, a status other than 200)."""
    trouble: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        with web.Client(timeout=10) as client:
            while not stop.wait(0.05):
                assert d.proc is not None
                if d.proc.poll() is not None:
                    trouble.append(f"exited with {d.proc.returncode}")
                    return
                try:
                    r = client.get(f"{d.url}/api/health")
                except httpx.HTTPError as e:
                    trouble.append(f"health: {e!r}")
                    continue
                if r.status_code != 200:
                    trouble.append(f"health answered {r.status_code}")

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield trouble
    finally:
        stop.set()
        t.join(timeout=15)


def state_of(d: Daemon, disk: Path, backlog: int) -> str:
    """What the disk and the daemon look like, for a failed assertion."""
    files = {p.name: p.stat().st_size for p in disk.rglob("*") if p.is_file()}
    return (
        f"backlog {backlog} B, free {free_bytes(disk)} B, files {files}\n"
        f"{d.health()}\n" + "\n".join(d.log().splitlines()[-15:])
    )


def assert_reports_disk_full(d: Daemon) -> None:
    h = d.health()
    assert h["disk_full"], h
    assert any("disk full" in p for p in h["problems"]), h["problems"]
    status = d.cli("status")
    assert "PROBLEM" in status.stdout, status.stdout
    assert "disk full" in status.stdout, status.stdout


def test_a_full_disk_is_503_and_everything_is_counted_once_space_returns(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as disk:
        d = start_on(tmp_path)
        try:
            with watched(d) as trouble:
                before, _ = send_until_refused(d, limit_s=1.0)  # a few acknowledged first
                filler = fill(disk)
                acked, statuses = send_until_refused(d)
                assert statuses <= {202, 503}
                assert 503 in statuses, "the spool never refused on a full disk"
                assert_reports_disk_full(d)
                total = before + acked
                backlog = spool_bytes(d)
                print(f"backlog {backlog} B in the spool, {free_bytes(disk)} B free")
                give_back(filler, 2 * backlog)
                assert wait_counted(d, total, 10.0) == total, state_of(d, disk, backlog)
                # Twice the backlog was about what counting it took: with the
                # rest of the disk back, the refusal is reported until an
                # event is stored again.
                filler.unlink()
                r = web.post(f"{d.url}/api/batch", json={"events": recent_events(5, "/ok/", 1)})
                assert r.status_code == 202
                assert d.wait_caught_up()["problems"] == []
                assert counted_today(d) == total + 5
            assert trouble == []
        finally:
            d.stop()


def fill_but(disk: Path, keep: int) -> Path:
    """Take all but `keep` free bytes of `disk` with one file."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        while (left := free_bytes(disk) - keep) > 0:
            f.write(b"\0" * min(left, 1 << 20))
            f.flush()
    return filler


def send_batches(d: Daemon, n_batches: int) -> int:
    """`n_batches` of 200 events from 4 clients, each one acknowledged."""

    def work(i: int) -> int:
        acked = 0
        with web.Client(timeout=10) as client:
            for _ in range(n_batches // 4):
                body = {"events": recent_events(200, f"/c{i}/", 20)}
                r = client.post(f"{d.url}/api/batch", json=body)
                assert r.status_code == 202, r.text
                acked += len(r.json()["accepted"])
        return acked

    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(work, range(4)))


@contextlib.contextmanager
def sending(d: Daemon) -> Iterator[list[int]]:
    """Batches sent meanwhile, one after the other; yields [acknowledged,
    *statuses] (a closed connection fails the test at the end)."""
    seen = [0]
    stop = threading.Event()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with web.Client(timeout=10) as client:
                while not stop.is_set():
                    body = {"events": recent_events(50, "/during/", 5)}
                    r = client.post(f"{d.url}/api/batch", json=body)
                    seen.append(r.status_code)
                    if r.status_code == 202:
                        seen[0] += len(r.json()["accepted"])
        except BaseException as e:  # noqa: BLE001 - reported to the test below
            failed.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        yield seen
    finally:
        stop.set()
        t.join(timeout=15)
    assert failed == []


def wait_for_flush_failure(d: Daemon, within_s: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        h = d.health()
        if h["aggregator"]["store_error"] and h["disk_full"]:
            return h
        time.sleep(0.05)
    raise AssertionError(f"no flush failed on the full disk: {d.health()}")


@contextlib.contextmanager
def disk_full_during_a_flush(tmp_path: Path) -> Iterator[tuple[Daemon, Path, Path, int]]:
    """A daemon whose flushes are held while 20,000 events are acknowledged;
    the disk is then filled but for 1 MiB and the flushes let go: the first
    one (of many thousand events) fills the disk as it runs. Yields the
    daemon, its disk, the filler and the events acknowledged."""
    hold = tmp_path / "hold-flushes"
    hold.touch()
    with small_disk(tmp_path / "data") as disk:
        port = free_port()
        d = Daemon(write_config(tmp_path, port, spool_max_bytes=1 << 30), port)
        d.start(failpoint=f"aggregator.flush_pause:{hold}")
        try:
            acked = send_batches(d, 100)
            assert d.health()["aggregator"]["lag_events"] == acked  # nothing flushed yet
            filler = fill_but(disk, 1 << 20)
            hold.unlink()
            yield d, disk, filler, acked
        finally:
            with contextlib.suppress(httpx.HTTPError, OSError):
                d.stop()


def test_the_disk_filling_during_a_flush_is_503_and_all_is_counted_once(tmp_path: Path) -> None:
    with disk_full_during_a_flush(tmp_path) as (d, disk, filler, acked):
        with watched(d) as trouble:
            with sending(d) as seen:
                wait_for_flush_failure(d)
                # Until the spool refuses too: the disk is full for everyone.
                deadline = time.monotonic() + 10
                while 503 not in seen and time.monotonic() < deadline:
                    time.sleep(0.05)
            assert set(seen[1:]) <= {202, 503}
            assert 503 in seen
            assert_reports_disk_full(d)
            total = acked + seen[0]
            # Most of the 20,000 wait: this is a backlog being drained.
            assert d.health()["aggregator"]["lag_events"] >= 5_000
            backlog = spool_bytes(d)
            print(f"backlog {backlog} B in the spool, {free_bytes(disk)} B free")
            give_back(filler, 2 * backlog)
            assert wait_counted(d, total, 10.0) == total, state_of(d, disk, backlog)
            assert "flushing in chunks" in d.log()
            assert_runs_logged(d, total)
        assert trouble == []


def assert_runs_logged(d: Daemon, total: int) -> None:
    """The failed flushes are in the runs log once a flush committed again
    (on the full disk they waited in memory), and the committed ones counted
    every event once."""
    done = d.cli("runs", "--json", "--limit", "100000")
    assert done.returncode == 0, done.stderr
    flushes = [r for r in json.loads(done.stdout) if r["kind"] == "flush"]
    failed = [r for r in flushes if r["outcome"] == "failed"]
    assert any("disk is full" in r["error"] for r in failed), flushes
    assert sum(r["events"] for r in flushes if r["outcome"] == "ok") == total


def test_sigterm_while_the_disk_fills_during_a_flush_stays_within_the_budget(
    tmp_path: Path,
) -> None:
    with disk_full_during_a_flush(tmp_path) as (d, _, _, _):
        wait_for_flush_failure(d)
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        assert d.wait(timeout=12) == 0
        assert time.monotonic() - started < 9.0  # the 7 s budget, plus exit


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


def test_a_new_data_dir_on_a_full_disk_is_refused_with_the_reason(tmp_path: Path) -> None:
    with small_disk(tmp_path / "data") as disk:
        fill(disk)  # nothing of the daemon's there yet: no reserve to release
        port = free_port()
        d = Daemon(write_config(tmp_path, port), port)
        done = d.cli("run")
        assert done.returncode == 1, done.stderr  # not killed by a signal
        assert f"disk full at {disk}" in done.stderr, done.stderr
