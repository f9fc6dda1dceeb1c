"""The dashboard's session key: 32 random bytes kept in the data dir (0600).

Kept across restarts so a restart does not log everybody out; deleting the
file logs every session out at the next start.
"""

from __future__ import annotations

import os

from analyticsd.core.errors import StatsStoreError

FILENAME = "session.key"


def session_key(data_dir: str) -> bytes:
    path = os.path.join(data_dir, FILENAME)
    try:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StatsStoreError(f"cannot read {path}: {e}") from e
    key = os.urandom(32)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise StatsStoreError(f"cannot write {path}: {e}") from e
    return key
