"""A paced HTTP client: N requests/s at fixed times over keep-alive connections.

Latency is measured from each request's *scheduled* time, so a slow server
cannot hide its queueing (no coordinated omission). The client is kept lean
(raw bytes, no HTTP library) so that its own overhead stays small next to the
server's: against the minimal trio + h11 reference it shows the floor.
"""

from __future__ import annotations

import random

import trio

from bench.payloads import event_body, user_agent


def _request(host: str, site: str) -> bytes:
    body = event_body(site)
    ip = f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"
    head = (
        f"POST /api/event HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
        f"User-Agent: {user_agent()}\r\nX-Forwarded-For: {ip}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(stream: trio.SocketStream, buf: bytearray) -> int:
    while b"\r\n\r\n" not in buf:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:head_end]).lower()
    status = int(head[9:12])
    i = head.index(b"content-length:") + 15
    length = int(head[i : head.index(b"\r\n", i)])
    while len(buf) < head_end + length:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    del buf[: head_end + length]
    return status


async def _connection(
    host: str,
    port: int,
    site: str,
    jobs: trio.MemoryReceiveChannel[tuple[float, bytes]],
    latencies: list[float],
    errors: list[int],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    stream = await trio.open_tcp_stream(host, port)
    buf = bytearray()
    async with stream:
        # Warm-up (not measured): the connection is open and has served a
        # request before the paced schedule starts.
        await stream.send_all(_request(f"{host}:{port}", site))
        await _read_response(stream, buf)
        task_status.started()
        async for scheduled, request in jobs:
            await stream.send_all(request)
            status = await _read_response(stream, buf)
            latencies.append(trio.current_time() - scheduled)
            if status != 202:
                errors.append(status)


async def paced_run(
    host: str, port: int, rate: float, seconds: float, site: str, connections: int = 32
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    total = int(rate * seconds)
    requests = [_request(f"{host}:{port}", site) for _ in range(total)]
    send, receive = trio.open_memory_channel[tuple[float, bytes]](total)
    with trio.move_on_after(seconds + 30):
        async with trio.open_nursery() as nursery:
            for _ in range(connections):
                await nursery.start(
                    _connection, host, port, site, receive.clone(), latencies, errors
                )
            receive.close()
            start = trio.current_time() + 0.5
            async with send:
                for i, request in enumerate(requests):
                    scheduled = start + i / rate
                    await trio.sleep_until(scheduled)
                    send.send_nowait((scheduled, request))
    return latencies, errors
