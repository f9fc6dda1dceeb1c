"""The daemon: one process of actors built from one configuration.

Three concerns, three modules: wiring.py builds the parts from a config,
supervisor.py runs them (start and shutdown order, signals, watchdog),
reloader.py applies a re-read configuration. This module ties them
together and owns the data dir's lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable

from analyticsd.core.config import Config
from analyticsd.core.errors import DataDirError, DataDirLocked
from analyticsd.reloader import Reloader
from analyticsd.supervisor import Supervisor
from analyticsd.wiring import build, wall_ms

__all__ = ["Daemon", "lock_data_dir", "wall_ms"]

LOCK_FILE = "analyticsd.lock"
log = logging.getLogger("analyticsd")


def lock_data_dir(data_dir: str) -> int:
    """Hold an exclusive lock for the process lifetime: two daemons on one data
    dir would count every event twice.

    The first thing a start does with the data dir, so a directory it may not
    use, or one another daemon owns, is one DataDirError naming it."""
    shown = os.path.abspath(data_dir)
    path = os.path.join(data_dir, LOCK_FILE)
    try:
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        reason = "permission denied" if isinstance(e, PermissionError) else e.strerror or str(e)
        raise DataDirError(f"cannot use the data directory {shown}: {reason}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _pid_in(fd)
        os.close(fd)
        raise DataDirLocked(
            f"the data directory {shown} is locked by another analyticsd"
            + (f" (pid {holder})" if holder else "")
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as e:  # a full disk: the lock holds all the same
        log.warning("could not write the pid to %s: %s", LOCK_FILE, e)
    return fd


def _pid_in(fd: int) -> int | None:
    """The pid the lock's holder wrote (best effort: it may not have yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class Daemon:
    def __init__(
        self,
        config: Config,
        now_ms: Callable[[], int] = wall_ms,
        load_config: Callable[[], Config] | None = None,
        config_path: str = "",
    ) -> None:
        self.parts = build(config, now_ms)
        self.parts.config_path = config_path
        self.supervisor = Supervisor(self.parts, Reloader(self.parts, load_config))

    async def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        await self.supervisor.run(on_ready)

    def close(self) -> None:
        self.parts.close()
