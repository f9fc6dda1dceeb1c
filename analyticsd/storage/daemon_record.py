"""The running daemon's own record in its data dir: who it is and where it listens.

`analyticsd status` and `analyticsd reload` read it to find the daemon when
the configuration file no longer says (a bad edit, a changed listen address
not yet applied by a restart): the daemon writes it once its listeners are
bound, from the configuration it is actually running.

Invariants: written atomically (a reader sees the old record or the new
one, never half of one); it holds no secret (addresses, a pid, a path), so
it may be as readable as the data dir; a record left by a daemon that has
stopped is harmless, because readers confirm the daemon by asking it.
"""

from __future__ import annotations

import contextlib
import os

import msgspec

RECORD_FILE = "daemon.json"


class DaemonRecord(msgspec.Struct, frozen=True):
    pid: int
    # The public listener as bound (host:port).
    listen: str
    # The admin listener as bound: "unix:/abs/path" or host:port; "" = none,
    # the public listener serves health and metrics.
    admin: str = ""
    # The file the daemon started from ("" = built-in defaults).
    config: str = ""


def write(data_dir: str, record: DaemonRecord) -> None:
    """Replace the record; an OSError (a full disk) is the caller's to log."""
    path = os.path.join(data_dir, RECORD_FILE)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(record))
    os.replace(tmp, path)


def read(data_dir: str) -> DaemonRecord | None:
    """The last record written, or None if there is none or it is unreadable."""
    try:
        with open(os.path.join(data_dir, RECORD_FILE), "rb") as f:
            return msgspec.json.decode(f.read(), type=DaemonRecord)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def remove(data_dir: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(data_dir, RECORD_FILE))
