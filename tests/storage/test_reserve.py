from __future__ import annotations

import os
from pathlib import Path

import pytest

from analyticsd.storage.reserve import Reserve


def test_the_reserve_is_made_when_there_is_room_and_released_when_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Reserve(str(tmp_path), size=64 * 1024)
    free = [10 * r.size]
    monkeypatch.setattr(r, "_free_bytes", lambda: free[0])  # our own method, not a library's
    assert r.restore()
    assert os.path.getsize(r.path) == r.size
    assert not r.restore()  # held already
    assert not r.release_if_short()  # enough room
    free[0] = r.size - 1
    assert r.release_if_short()
    assert not r.held()
    free[0] = 2 * r.size - 1
    assert not r.restore()  # not yet: it would leave less than its size
