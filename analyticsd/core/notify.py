"""The sd_notify protocol's messages (systemd's Type=notify-reload), pure.

The daemon sends these as datagrams to $NOTIFY_SOCKET (see analyticsd.systemd);
this module only builds them and reads the watchdog settings systemd passes.
"""

from __future__ import annotations

from collections.abc import Mapping

READY = b"READY=1"
STOPPING = b"STOPPING=1"
WATCHDOG = b"WATCHDOG=1"


def ready(status: str) -> bytes:
    return READY + b"\nSTATUS=" + status.encode()


def reloading(monotonic_usec: int) -> bytes:
    """RELOADING=1 must carry the CLOCK_MONOTONIC time of the reload request."""
    return b"RELOADING=1\nMONOTONIC_USEC=" + str(monotonic_usec).encode()


def stopping(status: str) -> bytes:
    return STOPPING + b"\nSTATUS=" + status.encode()


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout systemd set for this process, or None.

    WATCHDOG_PID, when present, must be ours (the variable may be inherited
    by children it is not meant for)."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):
        return None
    return int(usec) / 1_000_000
