"""Failpoints for crash drills: SIGKILL this process at a named point.

Armed only by the environment variable ANALYTICSD_FAILPOINT=`name[:n]` (kill
on the n-th time `name` is reached, default the first). Unset, `hit` is one
dictionary lookup. The crash tests use it to kill the daemon at exact
moments (inside a spool commit, inside or right after an aggregator flush)
that an outside `kill -9` could only hit by luck.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "ANALYTICSD_FAILPOINT"


def _parse(spec: str) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count) if count.isdigit() else 1


_armed = _parse(os.environ.get(ENV_VAR, ""))
_hits: dict[str, int] = {}


def hit(name: str) -> None:
    if _armed is None or _armed[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= _armed[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def armed(name: str) -> bool:
    """True when the failpoint `name` is armed (for stalls rather than kills:
    the caller then hangs on purpose, e.g. to prove the watchdog notices)."""
    return _armed is not None and _armed[0] == name
