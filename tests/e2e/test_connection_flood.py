"""Connection floods: a legitimate client is served within 1 s while 2,000
hostile connections are open, and the daemon gives back what they cost.

The three kinds, each from its own loopback source addresses (all of
127.0.0.0/8 is loopback; the legitimate client is 127.0.0.1, a trusted proxy
in the test config, the attackers are not):
* idle keep-alive: one complete request (a cheap one, see ONE_REQUEST),
  answer read, then silence. Spread
  over 25 addresses of 40 connections each (under the per-client cap), so
  together with the others they push the listener past 90 % of
  `max_connections` and idle eviction must make room;
* slow headers: an unfinished head, a header line a second; 5 addresses of
  100 connections each, so the per-client cap (64) turns the rest away and
  the header deadline cuts the admitted ones;
* slow readers: pipelined requests for a 23 KB answer on a small receive
  buffer, never read; 5 addresses of 100, capped like the slow headers, and
  cut by the write deadline.
Everything stays on loopback and is bounded: 2,000 sockets, every wait with
a deadline, the whole test well under a minute.
"""

from __future__ import annotations

import os
import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tests import web
from tests.helpers import Daemon, running_daemon

IDLE = [(f"127.0.0.{10 + i}", 40) for i in range(25)]  # 1,000
SLOW_HEADERS = [(f"127.0.1.{10 + i}", 100) for i in range(5)]  # 500
SLOW_READERS = [(f"127.0.2.{10 + i}", 100) for i in range(5)]  # 500
HOSTILE = sum(n for _, n in IDLE + SLOW_HEADERS + SLOW_READERS)
FILES_NEEDED = HOSTILE + 500  # the test's own files, pytest, the HTTP client
# After the flood the daemon may keep a few more descriptors than at start
# (a worker thread's database handle opened by the first stats or health
# call of a kind); the 2,000 sockets must not be among them.
FD_MARGIN = 8
# RSS comes back to within RETURN_KB of its start once a flood is over:
# the daemon then runs a full collection (the closed connections' cycles)
# and gives glibc's free heap back (tuning.py). Holding the flood takes
# ~26 MB; what stays is pymalloc arenas kept by a few objects made during
# the flood (measured +10-12 MB), which the next flood reuses. A leak of
# the connections' state would keep about the whole 26 MB.
RETURN_KB = 16 * 1024
# A second flood ends where the first did, give or take this: what the
# first left is reused, not added to (measured: within ~1 MB).
AGAIN_KB = 4 * 1024

# The idle connections' one request: a beacon refused by validation (400,
# the connection kept). Cheap on purpose: this test is about connections; a
# burst of 1,000 requests to a Quart route (~0.7 ms each) is a request-rate
# matter and would delay a legitimate request by its CPU time alone.
ONE_REQUEST = (
    b"POST /api/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}"
)
SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"
BIG = b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(autouse=True)
def _enough_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FILES_NEEDED:
        pytest.skip(f"needs {FILES_NEEDED} open files, the hard limit is {hard}")
    target = FILES_NEEDED if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(port: int, source: str, rcvbuf: int = 0) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def _send(s: socket.socket, data: bytes) -> None:
    # The daemon may have closed it (over the per-client cap): that is its answer.
    with suppress(OSError):
        s.sendall(data)


def _open_idle(port: int) -> list[socket.socket]:
    socks = [_connect(port, ip) for ip, n in IDLE for _ in range(n)]
    for s in socks:
        _send(s, ONE_REQUEST)
    for s in socks:  # read the answer, then stay silent
        with suppress(OSError):  # evicted already
            s.recv(65536)
    return socks


def _open_slow(
    port: int, groups: list[tuple[str, int]], data: bytes, rcvbuf: int = 0
) -> list[socket.socket]:
    socks = [_connect(port, ip, rcvbuf) for ip, n in groups for _ in range(n)]
    for s in socks:
        _send(s, data)
    return socks


def _trickle(socks: list[socket.socket], n: int, stop: threading.Event) -> None:
    """A header line a second on the first `n` sockets (slow headers), until `stop`."""
    while not stop.wait(1.0):
        for s in socks[:n]:
            with suppress(OSError):  # cut by the daemon, as it should be
                s.send(b"X-Slow: 1\r\n")


def _legit_request(d: Daemon) -> float:
    start = time.monotonic()
    response = web.get(f"{d.url}/api/health", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - start


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@contextmanager
def _flood(slow_headers: int) -> Iterator[list[socket.socket]]:
    """Hostile sockets appended to the list yielded are closed on the way out;
    the first `slow_headers` of them trickle meanwhile."""
    socks: list[socket.socket] = []
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(socks, slow_headers, stop), daemon=True)
    trickler.start()
    try:
        yield socks
    finally:
        stop.set()
        trickler.join(timeout=5)
        for s in socks:
            s.close()


def _open_all(port: int) -> list[socket.socket]:
    socks = _open_slow(port, SLOW_HEADERS, SLOW_HEAD)
    socks += _open_slow(port, SLOW_READERS, BIG * 4, rcvbuf=4096)
    return socks + _open_idle(port)


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _probe(d: Daemon, stop: threading.Event, times: list[float]) -> None:
    """A legitimate request every 0.2 s until `stop` (at most 200); their times."""
    while len(times) < 200 and not stop.wait(0.2):
        try:
            times.append(_legit_request(d))
        except httpx.HTTPError:
            times.append(float("inf"))  # not answered within 5 s


def _flood_and_measure(d: Daemon, pid: int) -> list[float]:
    """Open the flood, hold it 1.5 s, close it; the times of the legitimate
    requests made meanwhile, from the first hostile connect on."""
    times: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=_probe, args=(d, stop, times), daemon=True)
    try:
        with _flood(sum(n for _, n in SLOW_HEADERS)) as socks:
            prober.start()
            socks += _open_all(d.port)
            assert len(socks) == HOSTILE
            print(f"under the flood: daemon fds {_fds(pid)}, RSS {_rss_kb(pid)} kB")
            time.sleep(1.5)
    finally:
        stop.set()
        prober.join(timeout=10)
    print(f"legitimate requests under the flood: {[round(t, 3) for t in times]} s")
    assert len(times) >= 5
    return times


def test_a_client_is_served_while_2000_hostile_connections_are_open(tmp_path: Path) -> None:
    started = time.monotonic()
    with running_daemon(tmp_path) as d:
        assert d.proc is not None
        pid = d.proc.pid
        _legit_request(d)  # warm: the first request loads what later ones use
        fds0, rss0 = _fds(pid), _rss_kb(pid)
        after: list[int] = []
        for _ in range(2):
            assert max(_flood_and_measure(d, pid)) <= 1.0
            assert _wait_for(lambda: _fds(pid) <= fds0 + FD_MARGIN, 15), (fds0, _fds(pid))
            back = _wait_for(lambda: _rss_kb(pid) <= rss0 + RETURN_KB, 10)
            print(f"after: fds {fds0} -> {_fds(pid)}, RSS {rss0} -> {_rss_kb(pid)} kB")
            assert back, (rss0, _rss_kb(pid))
            after.append(_rss_kb(pid))
        # What the first flood left is reused by the second: no flood adds to it.
        assert after[1] <= after[0] + AGAIN_KB, after
        _legit_request(d)
    assert time.monotonic() - started < 50


def _closed(socks: list[socket.socket], wait_s: float) -> list[bool]:
    """Which sockets the daemon has closed within `wait_s` (all waited on at once)."""
    time.sleep(wait_s)
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    readable = {fd for fd, _ in poller.poll(0)}
    # Nothing was sent to them, so readable means an EOF or a reset.
    return [s.fileno() in readable for s in socks]


def test_a_client_over_its_connection_cap_is_closed_at_once(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        socks = [_connect(d.port, "127.0.3.1") for _ in range(100)]
        try:
            # The first 64 are held (until the header deadline, 5 s); the
            # rest are closed unanswered as they are accepted.
            assert _closed(socks, 1.0) == [False] * 64 + [True] * 36
            assert _legit_request(d) <= 1.0  # another address is not affected
        finally:
            for s in socks:
                s.close()


def test_slow_readers_and_slow_headers_do_not_outlive_their_deadlines(tmp_path: Path) -> None:
    # read_timeout_s 2: the write deadline, and the header deadline too (it is
    # capped by read_timeout_s). Held from this side, trickling, for 4 s.
    with running_daemon(tmp_path, read_timeout_s=2.0) as d:
        assert d.proc is not None
        pid = d.proc.pid
        _legit_request(d)
        time.sleep(0.2)  # the client's connection closed on both sides
        fds0 = _fds(pid)
        with _flood(50) as socks:
            socks += _open_slow(d.port, [("127.0.4.1", 50)], SLOW_HEAD)
            socks += _open_slow(d.port, [("127.0.4.2", 50)], BIG * 4, rcvbuf=4096)
            # Held at first (a margin for descriptors the daemon closes meanwhile).
            assert _wait_for(lambda: _fds(pid) >= fds0 + 95, 2), (fds0, _fds(pid))
            start = time.monotonic()
            assert _wait_for(lambda: _fds(pid) <= fds0 + FD_MARGIN, 4), (fds0, _fds(pid))
            print(f"cut after {time.monotonic() - start:.2f} s more")
