"""Rotates the daily visitor salts: makes tomorrow's ahead, destroys expired ones;
on the same clock, makes the disk reserve again once there is room
(storage/reserve.py) and saves the dashboard session key if it could not be
saved at start (storage/keys.py).

A salts file that cannot be written (a full disk) is logged and tried again
at the next check; the salts in memory stay in use meanwhile, so the daemon
keeps running. Tomorrow's salt is made a day ahead, so a disk that is full
for less than a day costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from analyticsd.actors.waiting import sleep_beating
from analyticsd.core.errors import SaltStoreError
from analyticsd.core.heartbeat import no_beat
from analyticsd.core.visitor import salt_day
from analyticsd.storage.keys import SessionKey
from analyticsd.storage.reserve import Reserve
from analyticsd.storage.salts import SaltBook

log = logging.getLogger(__name__)
CHECK_EVERY_S = 30.0


async def run_salt_rotator(
    salts: SaltBook,
    now_ms: Callable[[], int],
    *,
    reserve: Reserve | None = None,
    session_key: SessionKey | None = None,
    beat: Callable[[], None] = no_beat,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    await _rotate(salts, now_ms)
    task_status.started()
    while True:
        if reserve is not None:
            await trio.to_thread.run_sync(reserve.restore)
        if session_key is not None and session_key.error is not None:
            await trio.to_thread.run_sync(session_key.save)
        await sleep_beating(CHECK_EVERY_S, beat)
        await _rotate(salts, now_ms)


async def _rotate(salts: SaltBook, now_ms: Callable[[], int]) -> None:
    try:
        await trio.to_thread.run_sync(salts.rotate, salt_day(now_ms()))
    except SaltStoreError as e:
        log.error("visitor salts not rotated, will retry in %.0f s: %s", CHECK_EVERY_S, e)
