"""A small disk of its own: a tmpfs mounted for one test, and filling it.

Mounting needs root, as CI has; elsewhere the test is skipped with that
reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mount_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the data dir needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def free_bytes(disk: Path) -> int:
    st = os.statvfs(disk)
    return st.f_bavail * st.f_frsize


def fill(disk: Path, name: str = "filler") -> Path:
    """Take every free byte of `disk` with one file."""
    filler = disk / name
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                f.write(chunk)
                f.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    # The last partial write may leave a few bytes: take them one by one.
    with open(filler, "ab", buffering=0) as f, contextlib.suppress(OSError):
        while free_bytes(disk) > 0:
            f.write(b"\0" * max(free_bytes(disk) // 2, 1))
    return filler
