"""The persisted daily salts behind visitor ids.

Invariant: the file holds at most the salts of the UTC yesterday, today and
tomorrow (every site's local day is one of them; tomorrow's is made ahead so
midnight never waits on disk IO). A salt is destroyed when its day is more
than one UTC day past, i.e. 48 h after that day began. The file is replaced
atomically and readable by the owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets

from analyticsd.core.errors import AnalyticsdError, SaltStoreError
from analyticsd.core.visitor import SALT_BYTES, salts_to_keep
from analyticsd.storage.write_errors import write_error

FILENAME = "salts.json"


class SaltBook:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILENAME)
        self._salts: dict[int, bytes] = {}
        # Why the last write of the file failed, until one succeeds.
        self.error: str | None = None
        try:
            with open(self.path, encoding="utf-8") as f:
                raw = json.load(f)
            self._salts = {int(day): bytes.fromhex(salt) for day, salt in raw.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            raise AnalyticsdError(f"cannot read {self.path}: {e}") from e

    def days(self) -> list[int]:
        return sorted(self._salts)

    def get(self, day: int) -> bytes | None:
        return self._salts.get(day)

    def ensure(self, day: int, today: int) -> bytes | None:
        """The salt of `day`, made now if it may exist but does not yet
        (a site west of UTC on its yesterday, right after a first start)."""
        salt = self._salts.get(day)
        if salt is None and day in salts_to_keep(today):
            salts = dict(self._salts)
            salts[day] = secrets.token_bytes(SALT_BYTES)
            self._persist(salts)
            self._salts = salts
            salt = salts[day]
        return salt

    def adopt(self, day: int, salt: bytes, today: int) -> bool:
        """Use `salt` for `day` (the one the deployment agreed on); persist if
        it changed. A day whose salt may not exist any more is refused (False)."""
        if self._salts.get(day) == salt:
            return True
        if day not in salts_to_keep(today):
            return False
        salts = dict(self._salts)
        salts[day] = salt
        self._persist(salts)
        self._salts = salts
        return True

    def rotate(self, today: int) -> bool:
        """Make today's and tomorrow's salts, destroy expired ones; persist if changed."""
        keep = salts_to_keep(today)
        salts = {d: s for d, s in self._salts.items() if d in keep}
        for day in (today, today + 1):
            if day not in salts:
                salts[day] = secrets.token_bytes(SALT_BYTES)
        if salts == self._salts:
            return False
        self._persist(salts)
        # One assignment, so a reader in another thread sees old or new, never half.
        self._salts = salts
        return True

    def _persist(self, salts: dict[int, bytes]) -> None:
        try:
            self._write(salts)
        except OSError as e:
            self.error = write_error(self.path, e)
            with contextlib.suppress(OSError):
                os.unlink(self.path + ".tmp")
            raise SaltStoreError(self.error) from e
        self.error = None

    def _write(self, salts: dict[int, bytes]) -> None:
        tmp = self.path + ".tmp"
        payload = json.dumps({str(d): s.hex() for d, s in salts.items()})
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
