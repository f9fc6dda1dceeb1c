"""The dashboard's session key: 32 random bytes kept in the data dir (0600).

Kept across restarts so a restart does not log everybody out; deleting the
file logs every session out at the next start.

A key that cannot be written (a full disk) is used from memory meanwhile:
the daemon starts and sign-ins work, `error` says why it is not saved (the
status report shows it), and `save` is tried again later (the salt
rotator's clock); only a restart before then logs the sessions out.
"""

from __future__ import annotations

import contextlib
import logging
import os

from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.write_errors import write_error

FILENAME = "session.key"
KEY_BYTES = 32
log = logging.getLogger(__name__)


class SessionKey:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        # Why the key is not on disk, until it is.
        self.error: str | None = None
        key = self._read()
        self.key = key if key is not None else os.urandom(KEY_BYTES)
        if key is None:
            self.error = "not saved yet"
            self.save()

    def _read(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                key = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StatsStoreError(f"cannot read {self.path}: {e}") from e
        return key if len(key) == KEY_BYTES else None

    def save(self) -> bool:
        """Write the key if it is not on disk yet; False if that failed."""
        if self.error is None:
            return True
        tmp = self.path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.key)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            self.error = write_error(self.path, e)
            log.error("dashboard session key kept in memory only, will retry: %s", self.error)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        self.error = None
        return True
