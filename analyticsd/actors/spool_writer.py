"""The spool writer: group commit for every spool write.

Requests (appends from the receiver, enrichment results, cursor moves) join
the group that is filling; one thread call commits the whole group in one
LMDB transaction with one fsync, then every member is woken. While a group
commits, the next one fills, so the fsync rate bounds transactions, not
requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import trio

from analyticsd.core.errors import ShuttingDown, SpoolError
from analyticsd.core.heartbeat import HEARTBEAT_S, no_beat
from analyticsd.core.messages import Append, WriteOp
from analyticsd.storage.spool import Spool


class _CommitLimiter:
    """Thread limiter for the commit call (trio accepts any object with these
    two methods). The writer runs one transaction at a time by construction,
    so there is nothing to limit; and unlike CapacityLimiter, acquiring here
    is not a checkpoint, so the commit thread starts at once instead of after
    a full scheduling round of every other task: one round less per ack."""

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        return None

    def release_on_behalf_of(self, borrower: object) -> None:
        return None


_LIMITER = cast(trio.CapacityLimiter, _CommitLimiter())


class _Group:
    __slots__ = ("done", "error", "ops")

    def __init__(self) -> None:
        self.ops: list[WriteOp] = []
        self.done = trio.Event()
        self.error: SpoolError | None = None


class SpoolWriter:
    def __init__(
        self,
        spool: Spool,
        now_ms: Callable[[], int],
        max_waiting: int = 4096,
        beat: Callable[[], None] = no_beat,
    ) -> None:
        self.spool = spool
        self.beat = beat
        self._now_ms = now_ms
        self._group = _Group()
        self._work = trio.Event()
        # Bounds memory: at most this many writes wait for a commit at once.
        self._slots = trio.Semaphore(max_waiting)
        self._closing = False
        self._stopped = trio.Event()
        self.committed = trio.Event()  # replaced after every commit: "new data"
        self.commits = 0

    async def submit(self, op: WriteOp) -> None:
        """Wait until `op` is durably committed; raise its error if it failed."""
        if self._closing:
            raise ShuttingDown("the daemon is shutting down")
        async with self._slots:
            group = self._group
            group.ops.append(op)
            self._work.set()
            await group.done.wait()
        if group.error is not None:
            raise group.error
        if isinstance(op, Append) and op.error is not None:
            raise op.error

    def close(self) -> None:
        """Refuse new writes; `run` returns once the waiting ones are committed."""
        self._closing = True
        self._work.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                self.beat()
                with trio.move_on_after(HEARTBEAT_S):
                    await self._work.wait()
                if not self._work.is_set():
                    continue  # idle: beat again
                self._work = trio.Event()
                if not self._group.ops:
                    if self._closing:
                        return
                    continue
                group, self._group = self._group, _Group()
                await self._commit(group)
                self._work.set()  # look again: more may have arrived meanwhile
        finally:
            self._stopped.set()

    async def _commit(self, group: _Group) -> None:
        # Until the commit returns, the members' answer is "not stored".
        error: SpoolError | None = SpoolError("spool commit did not complete")
        try:
            # Not abandoned on cancel: a started commit always finishes, so
            # whoever waits on it gets a true answer.
            await trio.to_thread.run_sync(
                self.spool.write, group.ops, self._now_ms(), limiter=_LIMITER
            )
            error = None
            self.commits += 1
        except SpoolError as e:
            error = e
        finally:
            group.error = error
            group.done.set()
            committed, self.committed = self.committed, trio.Event()
            committed.set()
