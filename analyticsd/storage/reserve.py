"""Disk headroom kept in reserve, so a full disk can be reported and left.

The data dir holds a file of RESERVE_BYTES that nothing needs. A start-up on
a disk without that much free space deletes it first: opening SQLite (its
WAL and shared-memory files) and committing a cursor move need a little
space, and that is what the reserve gives back. Once the disk has room
again, the file is made anew (`restore`), so the next full disk finds it.
A data dir whose spool does not exist yet has no reserve to release, and
LMDB writes its new lock file through a memory map: on a disk without room
for it that is a SIGBUS, not an error. So new stores need NEW_STORES_BYTES
free, and a start with less is refused with an error that says so.
Blocking; called from a worker thread or before the event loop starts.
"""

from __future__ import annotations

import logging
import os

from analyticsd.core.errors import SpoolError

log = logging.getLogger(__name__)
RESERVE_BYTES = 4 * 1024 * 1024
FILENAME = "reserve.bin"
# What creating the spool and the database takes, with room to spare
# (measured: ~300 kB: LMDB's lock file and first pages, SQLite's schema,
# WAL and shared memory).
NEW_STORES_BYTES = 1 << 20


class Reserve:
    def __init__(self, data_dir: str, size: int = RESERVE_BYTES) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self.size = size

    def _free_bytes(self) -> int:
        st = os.statvfs(os.path.dirname(self.path))
        return st.f_bavail * st.f_frsize

    def held(self) -> bool:
        return os.path.exists(self.path)

    def ensure_room_for_new_stores(self, spool_dir: str) -> None:
        """Refuse to create the stores on a disk without the room they take."""
        if os.path.exists(os.path.join(spool_dir, "lock.mdb")):
            return
        free = self._free_bytes()
        if free < NEW_STORES_BYTES:
            raise SpoolError(
                f"disk full at {os.path.dirname(self.path)}: {free} bytes free, a new "
                f"data dir needs {NEW_STORES_BYTES} to create its spool and database"
            )

    def release_if_short(self) -> bool:
        """Delete the reserve when the disk has less than its size free."""
        if not self.held() or self._free_bytes() >= self.size:
            return False
        os.unlink(self.path)
        log.warning("disk almost full: released %d bytes of reserve at %s", self.size, self.path)
        return True

    def restore(self) -> bool:
        """Make the reserve again once there is twice its size free."""
        if self.held() or self._free_bytes() < 2 * self.size:
            return False
        tmp = self.path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # really taken, not a sparse file
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("disk reserve not made at %s: %s", self.path, e)
            if os.path.exists(tmp):
                os.unlink(tmp)
            return False
        return True
