"""Rotates the daily visitor salts: makes tomorrow's ahead, destroys expired ones;
on the same clock, makes the disk reserve again once there is room
(storage/reserve.py) and saves the dashboard session key if it could not be
saved at start (storage/keys.py).

A salts file that cannot be written (a full disk) is logged and tried again
at the next check; the salts in memory stay in use meanwhile, so the daemon
keeps running. Tomorrow's salt is made a day ahead, so a disk that is full
for less than a day costs nothing.

With `[salts] redis_url` set, every salt kept is agreed with the other
daemons of the deployment (storage/shared_salts.py) at each check: the
first to propose a day's salt sets it, the others adopt it. Tomorrow's is
agreed a day ahead, so Redis being away at midnight changes nothing; an
edge that could never reach Redis before a day began uses its own salt
that day (its visitors are then its own at the hub) until it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from analyticsd.actors.waiting import sleep_beating
from analyticsd.core.errors import SaltAgreementError, SaltStoreError
from analyticsd.core.heartbeat import no_beat
from analyticsd.core.visitor import salt_day, salts_to_keep
from analyticsd.storage.keys import SessionKey
from analyticsd.storage.reserve import Reserve
from analyticsd.storage.salts import SaltBook
from analyticsd.storage.shared_salts import SaltAgreement

log = logging.getLogger(__name__)
CHECK_EVERY_S = 30.0


async def run_salt_rotator(
    salts: SaltBook,
    now_ms: Callable[[], int],
    *,
    reserve: Reserve | None = None,
    session_key: SessionKey | None = None,
    agreement: SaltAgreement | None = None,
    beat: Callable[[], None] = no_beat,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await _rotate(salts, now_ms, agreement)
        task_status.started()
        while True:
            if reserve is not None:
                await trio.to_thread.run_sync(reserve.restore)
            if session_key is not None and session_key.error is not None:
                await trio.to_thread.run_sync(session_key.save)
            await sleep_beating(CHECK_EVERY_S, beat)
            await _rotate(salts, now_ms, agreement)
    finally:
        if agreement is not None:
            agreement.close()


async def _rotate(
    salts: SaltBook, now_ms: Callable[[], int], agreement: SaltAgreement | None
) -> None:
    try:
        today = salt_day(now_ms())
        await trio.to_thread.run_sync(salts.rotate, today)
    except SaltStoreError as e:
        log.error("visitor salts not rotated, will retry in %.0f s: %s", CHECK_EVERY_S, e)
        return
    if agreement is None:
        return
    try:
        await trio.to_thread.run_sync(_agree, salts, agreement, today, abandon_on_cancel=True)
    except (SaltAgreementError, SaltStoreError) as e:
        # This daemon's own salts stay in use meanwhile (README "One visitor across edges").
        log.warning("visitor salts not agreed, will retry in %.0f s: %s", CHECK_EVERY_S, e)


def _agree(salts: SaltBook, agreement: SaltAgreement, today: int) -> None:
    for day in sorted(salts_to_keep(today)):
        ours = salts.get(day)
        if ours is None:
            continue
        agreed = agreement.agree(day, ours)
        if agreed != ours and salts.adopt(day, agreed, today):
            log.info("visitor salt of day %d: the one agreed by the deployment", day)
