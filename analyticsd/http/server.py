"""The HTTP listener: the trio IO loop around `http/connection.py`.

Why not hypercorn for everything: on this hardware hypercorn's trio worker
serves well under half the requests per second of a plain trio + h11 loop, and
ingest is the hot path. Profiling our own h11 loop then showed h11 itself
(pure Python) taking most of the CPU per request, so requests are parsed with
httptools (the llhttp C parser), inside the sans-IO `HttpConnection`. Ingest
routes are answered directly; every other request goes to the Quart app
through a minimal in-process ASGI call (stats and health are not hot).

This module does only IO and time: accept, receive, feed, send, deadlines and
the connection cap; what the bytes mean is the connection's business.

Invariants: a started request must arrive complete (head and body) within
`read_timeout_s`, and its head within `header_timeout_s` (a new connection's
first head counted from the accept); idle keep-alive connections close after
`keep_alive_s`; every send (a response, a 100 Continue) must complete within
`read_timeout_s` as well, or the connection is closed, so a client that stops
reading cannot hold a slot; at most `max_connections` connections are served
at once, and above 90 % of that the longest-idle ones are closed
(`http/admission.py`); a client address other than a trusted proxy holds at
most `max_connections_per_client`, further connections from it are closed at
once, unanswered; a protocol error gets a 4xx and closes only that connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from analyticsd.core.config import ServerConfig
from analyticsd.core.metrics import route_of
from analyticsd.http.admission import ConnectionTable
from analyticsd.http.connection import CONTINUE_BYTES, HttpConnection, Refused, render
from analyticsd.http.ingest import INGEST_PATHS, IngestHandler, Request
from analyticsd.http.responses import HttpResponse, error_response

log = logging.getLogger(__name__)
RECV_BYTES = 65536
# Large responses (exports) go out in pieces, each under the write deadline,
# so a slow but reading client is not cut off; a beacon's answer is one piece.
SEND_BYTES = 256 * 1024

# (scope, receive, send) -> None; loosely typed because frameworks type it
# with their own TypedDicts.
AsgiApp = Callable[..., Awaitable[None]]


class _Slot:
    """One served connection, as the connection table knows it."""

    __slots__ = ("evicted", "waiting")

    def __init__(self) -> None:
        self.evicted = False
        # The scope of the receive while no request is in progress; the only
        # await an eviction may cut, so no request is ever cut half-served.
        self.waiting: trio.CancelScope | None = None

    def evict(self) -> None:
        self.evicted = True
        if self.waiting is not None:
            self.waiting.cancel()


class _Deadlines:
    """When the wait for a connection's next bytes ends (trio time)."""

    __slots__ = ("cfg", "head", "idle", "request")

    def __init__(self, cfg: ServerConfig, now: float) -> None:
        self.cfg = cfg
        # A new connection must send its first head soon: it holds a slot.
        self.idle = self.head = now + min(cfg.header_timeout_s, cfg.read_timeout_s)
        self.request = now + cfg.read_timeout_s

    def wait_until(self, conn: HttpConnection) -> float:
        if not conn.in_message:
            return self.idle
        return self.head if conn.in_head else self.request  # head <= request

    def update(self, conn: HttpConnection, begun: int, answered: int) -> None:
        """After feeding bytes: restart what a request begun or answered in them starts."""
        cfg = self.cfg
        # A request begun in these bytes (even behind one they completed)
        # gets its own deadlines, not what was left of the last one's; the
        # first keeps the head deadline counted from the accept.
        if conn.begun != begun:
            now = trio.current_time()
            self.request = now + cfg.read_timeout_s
            if conn.begun > 1:
                self.head = now + min(cfg.header_timeout_s, cfg.read_timeout_s)
        if conn.answered != answered:
            self.idle = trio.current_time() + cfg.keep_alive_s


class HttpServer:
    def __init__(
        self, cfg: ServerConfig, ingest: IngestHandler, app: AsgiApp, event_alias: str = ""
    ) -> None:
        self.cfg = cfg
        # tracker.event_path: a second path for POST /api/event.
        self.event_alias = event_alias
        self.ingest = ingest
        self.app = app
        self.metrics = ingest.metrics
        self._slots = trio.Semaphore(cfg.max_connections)
        self._table: ConnectionTable[_Slot] = ConnectionTable(
            cfg.max_connections, cfg.max_connections_per_client, cfg.trusted_proxies
        )
        self._in_flight = 0
        self._idle = trio.Event()
        self._idle.set()
        self.draining = False

    @property
    def open_connections(self) -> int:
        return self._table.open

    # -- lifecycle -----------------------------------------------------------

    def start_draining(self) -> None:
        """Answer ingest with 503 from now on and close connections after each response."""
        self.draining = True
        self.ingest.draining = True

    async def wait_idle(self) -> None:
        """Return once no ingest request is between parse and response."""
        await self._idle.wait()

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, nursery)
            task_status.started()

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                await self._slots.acquire()
                try:
                    stream = await listener.accept()
                except OSError as e:  # EMFILE and friends: back off, keep serving
                    self._slots.release()
                    log.warning("accept failed: %s", e)
                    await trio.sleep(0.1)
                    continue
                await self._admit(stream, nursery)

    async def _admit(self, stream: trio.SocketStream, nursery: trio.Nursery) -> None:
        slot = _Slot()
        try:
            peer = stream.socket.getpeername()[0]
        except OSError:  # reset before we got to it
            peer = None
        if peer is None or not self._table.admit(slot, peer):
            # Over its share: a plain close costs nothing and writes nothing
            # to a client that may not read; the accept loop goes straight on.
            self._slots.release()
            await stream.aclose()
            return
        self._evict()
        nursery.start_soon(self._connection, stream, slot, peer)

    def _evict(self) -> None:
        for slot in self._table.victims():
            slot.evict()

    # -- one connection ------------------------------------------------------

    async def _connection(self, stream: trio.SocketStream, slot: _Slot, peer: str) -> None:
        try:
            conn = HttpConnection(peer, self.cfg.max_body_bytes)
            await self._serve_requests(stream, conn, slot)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client went away; nothing to answer
        except Exception:
            # Connection-level supervisor: a bug triggered by one request must
            # cost that connection, not the daemon and every other client.
            # Nothing is acknowledged that was not committed, so closing is safe.
            log.exception("request handling failed; connection closed")
        finally:
            self._table.release(slot)
            self._slots.release()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    async def _serve_requests(
        self, stream: trio.abc.Stream, conn: HttpConnection, slot: _Slot | None = None
    ) -> None:
        slot = slot or _Slot()
        deadlines = _Deadlines(self.cfg, trio.current_time())
        while True:
            was_in_message = conn.in_message
            with trio.move_on_at(deadlines.wait_until(conn)) as scope:
                if not was_in_message:
                    slot.waiting = scope
                data = await stream.receive_some(RECV_BYTES)
            slot.waiting = None
            if slot.evicted:
                return  # idle while the listener needed the slot
            if scope.cancelled_caught:
                if was_in_message:
                    timeout = error_response(408, "request not received in time")
                    await self._send(stream, render(timeout, close=True))
                return
            if not data:
                return
            if not was_in_message:
                self._table.busy(slot)
            begun, answered = conn.begun, conn.answered
            if not await self._act(stream, conn, data):
                return
            deadlines.update(conn, begun, answered)
            if not conn.in_message:
                self._table.idle(slot)
                if self._table.open > self._table.high_water:
                    self._evict()

    async def _act(
        self, stream: trio.abc.Stream, conn: HttpConnection, data: bytes | bytearray
    ) -> bool:
        """Carry out the events `data` completes, in order; False: close the connection."""
        for event in conn.receive(data):
            if isinstance(event, Request):
                response = await self._timed(event)
                if not await self._send(stream, conn.respond(response, close=self.draining)):
                    return False
                if conn.closing:
                    return False
            elif isinstance(event, Refused):
                self.metrics.http_requests["other", str(event.response.status)] += 1
                await self._send(stream, render(event.response, close=True))
                return False
            elif not await self._send(stream, CONTINUE_BYTES):
                return False
        return True

    async def _send(self, stream: trio.abc.Stream, data: bytes) -> bool:
        """Send `data`; False if a piece did not go out within the write deadline."""
        if len(data) <= SEND_BYTES:
            pieces: Iterable[bytes | memoryview] = (data,)
        else:
            view = memoryview(data)
            pieces = (view[i : i + SEND_BYTES] for i in range(0, len(data), SEND_BYTES))
        for piece in pieces:
            with trio.move_on_after(self.cfg.read_timeout_s) as scope:
                await stream.send_all(piece)
            if scope.cancelled_caught:
                return False  # the client does not read; a cancelled send leaves no valid stream
        return True

    async def _timed(self, req: Request) -> HttpResponse:
        start = trio.current_time()
        path = req.path.split("?", 1)[0]  # origin-form, also for an absolute-form target
        if path == self.event_alias:
            path = "/api/event"
        response = await self._dispatch(req, path)
        route = route_of(path)
        self.metrics.http_latency.observe((route,), trio.current_time() - start)
        self.metrics.http_requests[route, str(response.status)] += 1
        return response

    async def _dispatch(self, req: Request, path: str) -> HttpResponse:
        if path in INGEST_PATHS:
            self._enter()
            try:
                return await self.ingest.handle(
                    Request(req.method, path, req.headers, req.body, req.peer)
                )
            finally:
                self._leave()
        return await call_asgi(self.app, req, self.cfg.listen)

    def _enter(self) -> None:
        self._in_flight += 1
        if self._idle.is_set():
            self._idle = trio.Event()

    def _leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()


async def call_asgi(app: AsgiApp, req: Request, server: str) -> HttpResponse:
    """Run one request through an ASGI app in-process and collect its response."""
    path, _, query = req.path.partition("?")
    host, _, port = server.rpartition(":")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": req.headers.lines(),
        "client": (req.peer, 0),
        "server": (host.strip("[]"), int(port or 0)),
        "state": {},
    }
    finished = trio.Event()
    body_sent = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": req.body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [
                (bytes(k).lower(), bytes(v))
                for k, v in message.get("headers", [])
                if bytes(k).lower() not in (b"content-length", b"transfer-encoding")
            ]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    return HttpResponse(status, b"".join(chunks), headers)
