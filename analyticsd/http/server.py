"""The HTTP listener: a lean HTTP/1.1 server in the daemon's trio process.

Why not hypercorn for everything: on this hardware hypercorn's trio worker
serves well under half the requests per second of a plain trio + h11 loop, and
ingest is the hot path. Profiling our own h11 loop then showed h11 itself
(pure Python) taking most of the CPU per request, so requests are parsed with
httptools (the llhttp C parser). Ingest routes are answered directly; every
other request goes to the Quart app through a minimal in-process ASGI call
(stats and health are not hot).

Invariants: a started request must arrive complete (head and body) within
`read_timeout_s`, a new connection must send its first request within that
time too; idle keep-alive connections close after `keep_alive_s`; bodies
over `max_body_bytes` get 413 before they are read; heads over
MAX_HEAD_BYTES get 431; at most `max_connections` connections are served at
once; a protocol error gets a 4xx and closes only that connection.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
import trio

from analyticsd.core.config import ServerConfig
from analyticsd.core.metrics import route_of
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


class _RequestParser:
    """httptools callbacks → complete `Request`s, with our size limits."""

    def __init__(self, peer: str, max_body: int) -> None:
        self.peer = peer
        self.max_body = max_body
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[tuple[Request, bool]] = deque()
        self.in_message = False
        self.abort: HttpResponse | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._head_bytes = 0
        self._body = bytearray()

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise _Abort(error_response(400, "protocol upgrades are not supported")) from None
        except httptools.HttpParserError as e:
            if self.abort is not None:
                raise _Abort(self.abort) from None
            raise _Abort(error_response(400, f"malformed HTTP request: {e}")) from None

    def _fail(self, response: HttpResponse) -> None:
        self.abort = response
        raise ValueError(response.status)  # stops the parser; `feed` reports it

    # -- httptools callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = True
        self._url, self._headers, self._head_bytes = b"", {}, 0
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value
        self._count_head(len(name) + len(value))

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            self._fail(error_response(431, "request head is too large"))

    def on_headers_complete(self) -> None:
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self._fail(error_response(413, f"body is larger than {self.max_body} bytes"))

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > self.max_body:
            self._fail(error_response(413, f"body is larger than {self.max_body} bytes"))

    def on_message_complete(self) -> None:
        self.in_message = False
        method = self.parser.get_method().decode("ascii", "replace")
        request = Request(
            method=method,
            path=self._url.decode("latin-1"),
            headers=self._headers,
            body=bytes(self._body),
            peer=self.peer,
        )
        self.ready.append((request, self.parser.should_keep_alive()))


def render(response: HttpResponse, close: bool, head_only: bool = False) -> bytes:
    """The bytes of a complete HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}".encode()]
    lines.extend(k + b": " + v for k, v in response.headers)
    lines.append(b"content-length: " + str(len(response.body)).encode())
    if close:
        lines.append(b"connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return head if head_only else head + response.body


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
            parser = _RequestParser(stream.socket.getpeername()[0], self.cfg.max_body_bytes)
            await self._serve_requests(stream, parser)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client went away; nothing to answer
        except Exception:
            # Connection-level supervisor: a bug triggered by one request must
            # cost that connection, not the daemon and every other client.
            # Nothing is acknowledged that was not committed, so closing is safe.
            log.exception("request handling failed; connection closed")
        finally:
            self._slots.release()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    async def _serve_requests(self, stream: trio.SocketStream, parser: _RequestParser) -> None:
        now = trio.current_time()
        idle_deadline = now + self.cfg.read_timeout_s
        request_deadline = idle_deadline
        while True:
            while parser.ready:
                req, keep_alive = parser.ready.popleft()
                response = await self._timed(req)
                close = self.draining or not keep_alive
                await stream.send_all(render(response, close, req.method == "HEAD"))
                if close:
                    return
                idle_deadline = trio.current_time() + self.cfg.keep_alive_s
            was_in_message = parser.in_message
            with trio.move_on_at(request_deadline if was_in_message else idle_deadline) as scope:
                data = await stream.receive_some(RECV_BYTES)
            if scope.cancelled_caught:
                if was_in_message:
                    await stream.send_all(
                        render(error_response(408, "request not received in time"), True)
                    )
                return
            if not data:
                return
            if not was_in_message:
                request_deadline = trio.current_time() + self.cfg.read_timeout_s
            try:
                parser.feed(data)
            except _Abort as abort:
                if abort.response is not None:
                    self.metrics.http_requests["other", str(abort.response.status)] += 1
                    await stream.send_all(render(abort.response, close=True))
                return

    async def _timed(self, req: Request) -> HttpResponse:
        start = trio.current_time()
        response = await self._dispatch(req)
        route = route_of(req.path.split("?", 1)[0])
        self.metrics.http_latency.observe((route,), trio.current_time() - start)
        self.metrics.http_requests[route, str(response.status)] += 1
        return response

    async def _dispatch(self, req: Request) -> HttpResponse:
        path = req.path.split("?", 1)[0]
        if path == self.event_alias:
            path = "/api/event"
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
