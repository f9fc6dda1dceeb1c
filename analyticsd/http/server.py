"""The HTTP listener: a lean h11 server in the daemon's trio process.

Why not hypercorn for everything: on this hardware hypercorn's trio worker
serves well under half the requests per second of a plain trio + h11 loop, and
ingest is the hot path. So this listener parses HTTP/1.1 with h11 itself,
answers the ingest routes directly, and hands every other request to the Quart
app through a minimal in-process ASGI call (stats and health are not hot).

Invariants: a request must arrive complete (head and body) within
`read_timeout_s`; idle keep-alive connections close after `keep_alive_s`;
bodies over `max_body_bytes` get 413 before they are read; at most
`max_connections` connections are served at once; a protocol error gets a 4xx
and closes only that connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

from analyticsd.core.config import ServerConfig
from analyticsd.http.ingest import INGEST_PATHS, IngestHandler, Request
from analyticsd.http.responses import REASONS, HttpResponse, error_response

log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 16 * 1024
RECV_BYTES = 65536

# (scope, receive, send) -> None; loosely typed because frameworks type it
# with their own TypedDicts.
AsgiApp = Callable[..., Awaitable[None]]


class _Abort(Exception):
    """The connection cannot continue; `response`, if any, is sent before closing."""

    def __init__(self, response: HttpResponse | None) -> None:
        super().__init__()
        self.response = response


class HttpServer:
    def __init__(self, cfg: ServerConfig, ingest: IngestHandler, app: AsgiApp) -> None:
        self.cfg = cfg
        self.ingest = ingest
        self.app = app
        self._slots = trio.Semaphore(cfg.max_connections)
        self._in_flight = 0
        self._idle = trio.Event()
        self._idle.set()
        self.draining = False

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
                nursery.start_soon(self._connection, stream)

    # -- one connection ------------------------------------------------------

    async def _connection(self, stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()[0]
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
            first = True
            while True:
                wait = self.cfg.read_timeout_s if first else self.cfg.keep_alive_s
                first = False
                try:
                    req = await self._read_request(conn, stream, peer, wait)
                except _Abort as abort:
                    if abort.response is not None and conn.our_state in (
                        h11.IDLE,
                        h11.SEND_RESPONSE,
                    ):
                        await self._send(conn, stream, abort.response, close=True)
                    return
                if req is None:
                    return
                response = await self._dispatch(req)
                await self._send(conn, stream, response, close=self.draining)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass  # the client went away; nothing to answer
        finally:
            self._slots.release()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    async def _next_event(
        self, conn: h11.Connection, stream: trio.SocketStream, deadline: float
    ) -> Any:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as e:
                status = e.error_status_hint if 400 <= e.error_status_hint < 500 else 400
                raise _Abort(error_response(status, f"malformed HTTP request: {e}")) from e
            if event is not h11.NEED_DATA:
                return event
            with trio.move_on_at(deadline) as scope:
                data = await stream.receive_some(RECV_BYTES)
            if scope.cancelled_caught:
                raise _Abort(error_response(408, "request not received in time"))
            conn.receive_data(data)

    async def _read_request(
        self, conn: h11.Connection, stream: trio.SocketStream, peer: str, wait_s: float
    ) -> Request | None:
        head = await self._next_event(conn, stream, trio.current_time() + wait_s)
        if isinstance(head, h11.ConnectionClosed):
            return None
        if not isinstance(head, h11.Request):
            raise _Abort(None)
        # h11 bounds only an incomplete head; a complete one read in a single
        # chunk can be larger, so bound it here too.
        if len(head.target) + sum(len(k) + len(v) for k, v in head.headers) > MAX_HEAD_BYTES:
            raise _Abort(error_response(431, "request head is too large"))
        headers = {k.lower(): v for k, v in head.headers}
        limit = self.cfg.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None and int(length) > limit:
            raise _Abort(error_response(413, f"body is larger than {limit} bytes"))
        deadline = trio.current_time() + self.cfg.read_timeout_s
        body = bytearray()
        while True:
            event = await self._next_event(conn, stream, deadline)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise _Abort(error_response(413, f"body is larger than {limit} bytes"))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise _Abort(None)  # connection closed mid-body
        return Request(
            method=head.method.decode("ascii", "replace"),
            path=head.target.decode("latin-1"),
            headers=headers,
            body=bytes(body),
            peer=peer,
        )

    async def _dispatch(self, req: Request) -> HttpResponse:
        path = req.path.split("?", 1)[0]
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

    async def _send(
        self, conn: h11.Connection, stream: trio.SocketStream, response: HttpResponse, close: bool
    ) -> None:
        headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        reason = REASONS.get(response.status, "").encode()
        data = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
        if response.body:
            data += conn.send(h11.Data(data=response.body))
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)


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
        "headers": list(req.headers.items()),
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
