"""Small waiting helpers shared by actors."""

from __future__ import annotations

from collections.abc import Callable

import trio

from analyticsd.core.heartbeat import HEARTBEAT_S


async def wait_any(*events: trio.Event) -> None:
    """Return as soon as any of `events` is set."""
    async with trio.open_nursery() as nursery:

        async def wait_one(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait_one, event)


async def sleep_beating(seconds: float, beat: Callable[[], None]) -> None:
    """Sleep, beating the heartbeat at least every HEARTBEAT_S meanwhile."""
    deadline = trio.current_time() + seconds
    while True:
        beat()
        left = deadline - trio.current_time()
        if left <= 0:
            return
        await trio.sleep(min(left, HEARTBEAT_S))
