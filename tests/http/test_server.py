"""The listener's IO loop on in-memory streams: deadlines, 100-continue, order."""

from __future__ import annotations

import re
from typing import Any, cast

import trio
import trio.lowlevel
import trio.testing

from analyticsd.core.config import ServerConfig
from analyticsd.core.metrics import Metrics
from analyticsd.http.connection import HttpConnection
from analyticsd.http.ingest import IngestHandler, Request
from analyticsd.http.responses import HttpResponse
from analyticsd.http.server import SEND_BYTES, HttpServer

BODY = b'{"siteId":"s","eventType":"pageview","path":"/"}'
LENGTH = str(len(BODY)).encode()


class _Ingest:
    """Stands in for IngestHandler: records what it was asked, answers 202."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.draining = False
        self.seen: list[Request] = []

    async def handle(self, req: Request) -> HttpResponse:
        self.seen.append(req)
        return HttpResponse(202, b"{}")


class _App:
    """A minimal ASGI app: answers with the path and query it was given."""

    def __init__(self, body_size: int = 0) -> None:
        self.body_size = body_size

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        body = b"x" * self.body_size or scope["path"].encode() + b"?" + scope["query_string"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _server(app: _App | None = None, alias: str = "") -> tuple[HttpServer, _Ingest]:
    ingest = _Ingest()
    cfg = ServerConfig(read_timeout_s=2.0, keep_alive_s=5.0, max_body_bytes=1000)
    return HttpServer(cfg, cast(IngestHandler, ingest), app or _App(), alias), ingest


async def _serve(server: HttpServer, stream: trio.abc.Stream, done: list[float]) -> None:
    async with stream:  # closed as the listener closes it, so the client sees EOF
        await server._serve_requests(stream, HttpConnection("192.0.2.1", 1000))
        done.append(trio.current_time())


async def _read_until(stream: trio.abc.Stream, marker: bytes, count: int = 1) -> bytes:
    data = b""
    while data.count(marker) < count:
        chunk = await stream.receive_some(65536)
        assert chunk, data
        data += chunk
    return data


async def test_expect_continue_gets_100_then_the_answer(autojump_clock: trio.abc.Clock) -> None:
    server, ingest = _server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        head = b"POST /api/event HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        await client.send_all(head + b"Content-Length: " + LENGTH + b"\r\n\r\n")
        start = trio.current_time()
        assert await _read_until(client, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert trio.current_time() == start  # at once, not after a read timeout
        await client.send_all(BODY)
        assert (await _read_until(client, b"\r\n\r\n")).startswith(b"HTTP/1.1 202 ")
        await client.aclose()
    assert [r.body for r in ingest.seen] == [BODY]


async def test_pipelined_then_garbage(autojump_clock: trio.abc.Clock) -> None:
    server, ingest = _server()
    client, end = trio.testing.memory_stream_pair()
    one = b"POST /api/event HTTP/1.1\r\nHost: x\r\nContent-Length: " + LENGTH + b"\r\n\r\n" + BODY
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(one + one + b"\x16\x03\x01garbage\r\n\r\n")
        data = await _read_until(client, b"HTTP/1.1 ", 3)
    assert re.findall(rb"HTTP/1\.1 (\d+)", data) == [b"202", b"202", b"400"]
    assert len(ingest.seen) == 2
    assert done  # closed after the 400


async def test_a_client_that_does_not_read_is_cut_off(autojump_clock: trio.abc.Clock) -> None:
    server, _ = _server(_App(body_size=3 * SEND_BYTES))
    client, end = trio.testing.lockstep_stream_pair()  # a send waits for the reader
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        start = trio.current_time()
        with trio.move_on_after(60):
            await client.wait_send_all_might_not_block()  # returns when the server closes
        nursery.cancel_scope.cancel()
    assert done, "the connection was held open by a client that does not read"
    assert done[0] - start <= 2.0  # read_timeout_s after the send stalled


async def test_a_slow_reader_of_a_large_answer_is_not_cut_off(
    autojump_clock: trio.abc.Clock,
) -> None:
    # The deadline is per piece: a client that keeps reading gets everything.
    server, _ = _server(_App(body_size=4 * SEND_BYTES))
    client, end = trio.testing.lockstep_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := await client.receive_some(SEND_BYTES):
            data += chunk
            await trio.sleep(1.5)  # a piece a 1.5 s: under the 2 s deadline, 6 s in all
    assert data.endswith(b"x" * 4 * SEND_BYTES)


async def test_absolute_form_routes_like_origin_form(autojump_clock: trio.abc.Clock) -> None:
    server, ingest = _server(alias="/e")
    client, end = trio.testing.memory_stream_pair()
    post = b"Host: x\r\nContent-Length: " + LENGTH + b"\r\n\r\n" + BODY
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(
            b"POST http://x/api/event HTTP/1.1\r\n"
            + post
            + b"POST http://x:80/e HTTP/1.1\r\n"
            + post
            + b"GET http://x/api/stats?siteId=s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = await _read_until(client, b"HTTP/1.1 ", 3)
        data += await client.receive_some(65536)
    assert [r.path for r in ingest.seen] == ["/api/event", "/api/event"]
    assert data.endswith(b"/api/stats?siteId=s")
    assert server.metrics.http_requests["event", "202"] == 2


async def test_idle_connection_closes_after_keep_alive(autojump_clock: trio.abc.Clock) -> None:
    server, _ = _server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await _read_until(client, b"/a?")
        answered = trio.current_time()
        assert await client.receive_some(65536) == b""  # closed by the server
    assert done[0] - answered == 5.0


async def test_partial_request_gets_408(autojump_clock: trio.abc.Clock) -> None:
    server, _ = _server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(b"POST /api/event HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{")
        assert (await _read_until(client, b"\r\n\r\n")).startswith(b"HTTP/1.1 408 ")
    assert done


async def test_a_request_begun_behind_another_gets_its_own_read_time(
    autojump_clock: trio.abc.Clock,
) -> None:
    server, _ = _server()
    client, end = trio.testing.memory_stream_pair()
    one = b"POST /api/event HTTP/1.1\r\nHost: x\r\nContent-Length: " + LENGTH + b"\r\n\r\n" + BODY
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(one[:20])
        await trio.sleep(1.5)  # of the 2 s read timeout
        await client.send_all(one[20:] + one[:20])
        second = trio.current_time()
        data = await _read_until(client, b"HTTP/1.1 ", 2)
    assert re.findall(rb"HTTP/1\.1 (\d+)", data) == [b"202", b"408"]
    assert done[0] - second == 2.0


def _flood_server(**cfg: Any) -> HttpServer:
    config = ServerConfig(read_timeout_s=4.0, keep_alive_s=30.0, header_timeout_s=1.0, **cfg)
    return HttpServer(config, cast(IngestHandler, _Ingest()), _App())


async def test_a_slow_head_gets_408_after_header_timeout(autojump_clock: trio.abc.Clock) -> None:
    server = _flood_server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        nursery.start_soon(_serve, server, end, done)
        answer = b""
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n":  # a byte a 0.1 s, never done
            await client.send_all(bytes([byte]))
            with trio.move_on_after(0.1):
                answer = await client.receive_some(65536)
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408 ")
    assert done[0] - start == 1.0  # from the accept: not read_timeout_s (4 s)


async def test_a_silent_new_connection_closes_after_header_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    server = _flood_server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        nursery.start_soon(_serve, server, end, done)
        assert await client.receive_some(65536) == b""  # closed, nothing begun: no 408
    assert done[0] - start == 1.0


async def test_a_later_head_gets_header_timeout_from_its_first_byte(
    autojump_clock: trio.abc.Clock,
) -> None:
    server = _flood_server()
    client, end = trio.testing.memory_stream_pair()
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve, server, end, done)
        await client.send_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await _read_until(client, b"/a?")
        await trio.sleep(10)  # idle within keep_alive_s
        await client.send_all(b"GET /b HTTP/1.1\r\n")
        begun = trio.current_time()
        assert (await _read_until(client, b"\r\n\r\n")).startswith(b"HTTP/1.1 408 ")
    assert done[0] - begun == 1.0


async def test_near_the_cap_the_longest_idle_connections_are_closed(
    autojump_clock: trio.abc.Clock,
) -> None:
    from analyticsd.http.server import _Slot

    server = _flood_server(max_connections=10, max_connections_per_client=100)
    done: list[float] = []
    clients: list[trio.testing.MemorySendStream] = []

    async def serve(slot: _Slot, stream: trio.abc.Stream) -> None:
        try:
            async with stream:
                await server._serve_requests(stream, HttpConnection("192.0.2.1", 1000), slot)
                done.append(trio.current_time())
        finally:
            server._table.release(slot)

    async with trio.open_nursery() as nursery:
        slots = []
        for i in range(11):
            client, end = trio.testing.memory_stream_pair()
            slot = _Slot()
            assert server._table.admit(slot, "192.0.2.1")
            slots.append(slot)
            clients.append(client)
            nursery.start_soon(serve, slot, end)
            await trio.sleep(0.01)
            if i < 2:  # the two oldest start a head: busy, never victims
                await client.send_all(b"GET / HTTP/1.1\r\n")
        # One request answered: idle from then on, the most recent; as it goes
        # idle with 11 open (high water 9), the two idle longest are closed.
        await clients[2].send_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await _read_until(clients[2], b"/a?")
        start = trio.current_time()
        server._evict()  # as the accept loop does after admitting: nothing more to do
        await trio.lowlevel.checkpoint()
        assert [s.evicted for s in slots] == [False] * 3 + [True, True] + [False] * 6
        for i in (3, 4):
            assert await clients[i].receive_some(65536) == b""
        assert done == [start, start]  # at once, not at a deadline
        nursery.cancel_scope.cancel()
