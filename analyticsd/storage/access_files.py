"""What access keeps in the data dir: the session epoch of each token, and
the token made on first start when none is configured.

* `session_epochs.json` maps a token's hash (never the token) to its
  session epoch; signing out moves it on (core/signin.py). A write that
  fails (a full disk) keeps the new epoch in memory: the sign-out holds
  until a restart, and the log says so.
* `api.token` (0600) holds a token made when `[api] tokens` is empty, so a
  fresh install's dashboard can be opened at all. It is made once, printed
  once, and only valid while no token is configured.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets

from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.write_errors import write_error

EPOCHS_FILE = "session_epochs.json"
TOKEN_FILE = "api.token"
log = logging.getLogger(__name__)


def _write_private(path: str, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by the daemon's user only."""
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class SessionEpochs:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, EPOCHS_FILE)
        self._epochs: dict[str, int] = {}
        try:
            with open(self.path, "rb") as f:
                loaded = json.loads(f.read() or b"{}")
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError) as e:
            raise StatsStoreError(f"cannot read {self.path}: {e}") from e
        if isinstance(loaded, dict):
            self._epochs = {str(k): int(v) for k, v in loaded.items() if isinstance(v, int)}

    def epoch(self, token_hash: str) -> int:
        return self._epochs.get(token_hash, 0)

    def bump(self, token_hash: str) -> None:
        """End every session of this token."""
        self._epochs[token_hash] = self.epoch(token_hash) + 1
        try:
            _write_private(self.path, json.dumps(self._epochs, sort_keys=True).encode())
        except OSError as e:
            log.error("sign-out holds until a restart only: %s", write_error(self.path, e))


class FirstToken:
    """The token of an install without `[api] tokens`, made when first needed."""

    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, TOKEN_FILE)
        self._token: str | None = None

    def get(self) -> str:
        if self._token is None:
            self._token = self._read() or self._make()
        return self._token

    def _read(self) -> str | None:
        try:
            with open(self.path, encoding="ascii") as f:
                token = f.read().strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise StatsStoreError(f"cannot read {self.path}: {e}") from e
        return token if len(token) >= 16 else None

    def _make(self) -> str:
        token = secrets.token_urlsafe(24)
        try:
            _write_private(self.path, (token + "\n").encode())
            where = f"saved in {self.path}"
        except OSError as e:
            where = f"NOT saved ({write_error(self.path, e)}): it lasts until a restart"
        # Printed this once; later starts say where it is.
        log.warning(
            "no [api] tokens are configured: made one for the dashboard and the "
            "Stats API: %s (%s; add tokens to [api] tokens to replace it)",
            token,
            where,
        )
        return token
