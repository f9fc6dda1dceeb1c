"""Failpoints for crash drills: SIGKILL this process at a named point.

Armed only by the environment variable ANALYTICSD_FAILPOINT=`name[:n]` (kill
on the n-th time `name` is reached, default the first). Unset, `hit` is one
dictionary lookup. The crash tests use it to kill the daemon at exact
moments (inside a spool commit, inside or right after an aggregator flush)
that an outside `kill -9` could only hit by luck.

A failpoint armed as `name:PATH` (anything but digits after the colon) is a
pause instead: `held(name)` is true while the file at PATH exists, and the
caller waits meanwhile. The disk-full tests hold the aggregator's flushes
that way, fill the disk, and let go by deleting the file.

A failpoint the code asks through `fails(name)` (`flush.error`) is an
error instead: true the first n times, the caller then raises what the real
failure would.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "ANALYTICSD_FAILPOINT"


def _parse(spec: str) -> tuple[str, str] | None:
    if not spec:
        return None
    name, _, arg = spec.partition(":")
    return name, arg


_armed = _parse(os.environ.get(ENV_VAR, ""))
_hits: dict[str, int] = {}


def hit(name: str) -> None:
    if _armed is None or _armed[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    count = int(_armed[1]) if _armed[1].isdigit() else 1
    if _hits[name] >= count:
        os.kill(os.getpid(), signal.SIGKILL)


def armed(name: str) -> bool:
    """True when the failpoint `name` is armed (for stalls rather than kills:
    the caller then hangs on purpose, e.g. to prove the watchdog notices)."""
    return _armed is not None and _armed[0] == name


def held(name: str) -> bool:
    """True while the pause `name:PATH` is armed and the file at PATH exists."""
    if _armed is None or _armed[0] != name or not _armed[1] or _armed[1].isdigit():
        return False
    return os.path.exists(_armed[1])


def fails(name: str) -> bool:
    """True the first n times `name` is reached when armed as `name:n` (an
    error instead of a kill: the caller raises what the real failure would,
    so a test sees a flush fail and the daemon recover)."""
    if _armed is None or _armed[0] != name:
        return False
    _hits[name] = _hits.get(name, 0) + 1
    count = int(_armed[1]) if _armed[1].isdigit() else 1
    return _hits[name] <= count
