"""The session key and the salts file on a full disk: kept in memory, the
reason reported, saved once there is room (a real, filled tmpfs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyticsd.core.errors import SaltStoreError
from analyticsd.storage.keys import FILENAME, SessionKey
from analyticsd.storage.salts import SaltBook
from tests.disk import fill, free_bytes, mount_tmpfs

DAY = 20_000


def test_a_session_key_that_cannot_be_written_is_used_and_saved_later(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "d", "64k") as disk:
        filler = fill(disk)
        assert free_bytes(disk) == 0
        key = SessionKey(str(disk))  # starts all the same
        assert len(key.key) == 32
        assert key.error is not None
        assert key.error.startswith(f"disk full at {disk}")
        assert not (disk / FILENAME).exists()
        assert not key.save()  # still full
        filler.unlink()
        assert key.save()
        assert key.error is None
        assert (disk / FILENAME).read_bytes() == key.key
        assert (disk / FILENAME).stat().st_mode & 0o777 == 0o600
        assert SessionKey(str(disk)).key == key.key  # what the next start reads


def test_salts_that_cannot_be_written_say_so_until_they_are(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "d", "64k") as disk:
        book = SaltBook(str(disk))
        book.rotate(DAY)
        filler = fill(disk)
        with pytest.raises(SaltStoreError, match="disk full at"):
            book.rotate(DAY + 1)  # tomorrow's salt cannot be stored
        assert book.error is not None
        assert book.days() == [DAY, DAY + 1]  # the salts in use stay
        assert not list(disk.glob("*.tmp"))
        filler.unlink()
        assert book.rotate(DAY + 1)
        assert book.error is None
        assert SaltBook(str(disk)).days() == [DAY, DAY + 1, DAY + 2]
