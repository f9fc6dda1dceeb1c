"""What a failed write of one of the data dir's small files means, in words.

A full disk (ENOSPC) or an exhausted quota (EDQUOT) says "disk full at"
the directory, which is what health, `status` and /metrics look for.
"""

from __future__ import annotations

import errno
import os


def write_error(path: str, e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full at {os.path.dirname(path)}: cannot write {path}"
    return f"cannot write {path}: {e}"
