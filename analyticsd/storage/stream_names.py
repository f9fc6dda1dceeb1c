"""Names a daemon keeps in its data dir for its place in the stream.

Made once and kept: a restarted hub must find the entries it was given and
never acknowledged (its consumer name), a restarted edge must find its own
mark and the hub's confirmations again (its origin).
"""

from __future__ import annotations

import os
import secrets
import socket

HUB_CONSUMER_FILE = "hub-consumer"
EDGE_ORIGIN_FILE = "edge-origin"


def hub_consumer_name(data_dir: str) -> str:
    """This data dir's consumer name in the hub group, made once and kept: a
    restarted hub must find the entries it was given and never acknowledged."""
    return kept_name(data_dir, HUB_CONSUMER_FILE)


def edge_origin_name(data_dir: str) -> str:
    """This data dir's origin in the stream's marks and confirmations, made
    once and kept: a restarted edge must find its own mark again."""
    return kept_name(data_dir, EDGE_ORIGIN_FILE)


def kept_name(data_dir: str, filename: str) -> str:
    path = os.path.join(data_dir, filename)
    try:
        with open(path, encoding="utf-8") as f:
            name = f.read().strip()
        if name:
            return name
    except FileNotFoundError:
        pass
    name = f"{socket.gethostname()}-{secrets.token_hex(4)}"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return name
