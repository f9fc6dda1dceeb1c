from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.errors import ShuttingDown, SpoolFull
from analyticsd.core.messages import Append, PendingRecord
from analyticsd.storage.spool import Spool


def _append(size: int = 100) -> Append:
    return Append([PendingRecord(str(uuid.uuid4()), b"x" * size)])


async def test_group_commit_shares_transactions(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), 1 << 24, ("aggregator",))
    writer = SpoolWriter(spool, lambda: 1_800_000_000_000)
    ops = [_append() for _ in range(300)]
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as clients:
            for op in ops:
                clients.start_soon(writer.submit, op)
        writer.close()
    assert all(op.stored == [True] for op in ops)
    assert len(spool.read(0, 1000).rows) == 300
    # Many requests per fsync: far fewer commits than requests.
    assert writer.commits < 100


async def test_errors_reach_the_submitter_and_close_refuses(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"), 4096, ("aggregator",))
    writer = SpoolWriter(spool, lambda: 1_800_000_000_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.submit(_append(3000))
        with pytest.raises(SpoolFull):
            await writer.submit(_append(3000))
        writer.close()
        with pytest.raises(ShuttingDown):
            await writer.submit(_append())
    assert len(spool.read(0, 10).rows) == 1
