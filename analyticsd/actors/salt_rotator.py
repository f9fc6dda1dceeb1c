"""Rotates the daily visitor salts: makes tomorrow's ahead, destroys expired ones."""

from __future__ import annotations

from collections.abc import Callable

import trio

from analyticsd.actors.waiting import sleep_beating
from analyticsd.core.heartbeat import no_beat
from analyticsd.core.visitor import salt_day
from analyticsd.storage.salts import SaltBook

CHECK_EVERY_S = 30.0


async def run_salt_rotator(
    salts: SaltBook,
    now_ms: Callable[[], int],
    *,
    beat: Callable[[], None] = no_beat,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await trio.to_thread.run_sync(salts.rotate, salt_day(now_ms()))
    task_status.started()
    while True:
        await sleep_beating(CHECK_EVERY_S, beat)
        await trio.to_thread.run_sync(salts.rotate, salt_day(now_ms()))
