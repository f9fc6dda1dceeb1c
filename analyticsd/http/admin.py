"""The admin listener: /api/health, /metrics and what `analyticsd status` asks.

Separate from the public listener so a reverse proxy in front of that one
exposes only what sites and dashboard users need; the status report names
the data dir and the internals, /metrics every counter. It carries no
beacon load, so it is the Quart app served by hypercorn (SPEC §1), on
sockets this module binds itself: a bind failure is then one ListenError
naming the address, as for the public listener.

`server.admin_listen` is "unix:PATH" (the usual choice: the data dir is
0700, so only the daemon's user and root reach it) or HOST:PORT (for a
Prometheus scrape, which speaks TCP only).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from quart_trio import QuartTrio

from analyticsd.core.config import UNIX_PREFIX, parse_listen
from analyticsd.core.errors import ListenError
from analyticsd.http.api import MetricsText, StatusQuery, register_status

log = logging.getLogger("analyticsd.admin")
_BACKLOG = 64


def create_admin_app(status: StatusQuery, metrics: MetricsText) -> QuartTrio:
    app = QuartTrio("analyticsd-admin")
    register_status(app, status, metrics)
    return app


def bind(address: str) -> socket.socket:
    """A listening socket on `address` (resolved: an absolute unix path or HOST:PORT)."""
    try:
        if address.startswith(UNIX_PREFIX):
            return _bind_unix(address[len(UNIX_PREFIX) :])
        host, port = parse_listen(address, key="server.admin_listen")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(_BACKLOG)
        except OSError:
            sock.close()
            raise
        return sock
    except OSError as e:
        reason = (
            {
                errno.EADDRINUSE: "address in use",
                errno.EACCES: "permission denied",
                errno.EADDRNOTAVAIL: "address not available on this machine",
            }.get(e.errno or 0)
            or e.strerror
            or str(e)
        )
        raise ListenError(f"cannot listen on {address}: {reason}") from e


def _bind_unix(path: str) -> socket.socket:
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Owner only: the report is for the operator (root passes anyway).
        os.chmod(path, 0o600)
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _remove_stale(path: str) -> None:
    """A socket file left by a daemon that died; one that answers is in use."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, "exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "address in use")


def unlink(address: str) -> None:
    if address.startswith(UNIX_PREFIX):
        with contextlib.suppress(OSError):
            os.unlink(address[len(UNIX_PREFIX) :])


async def serve(
    app: QuartTrio,
    sock: socket.socket,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled."""
    cfg = HypercornConfig()
    cfg.accesslog = None
    cfg.errorlog = log
    cfg.graceful_timeout = 1.0
    sockets = Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])
    await worker_serve(
        wrap_app(app, cfg.wsgi_max_body_size, None),
        cfg,
        sockets=sockets,
        task_status=_Started(task_status),
    )


class _Started:
    """Hands hypercorn's "serving" (with its list of binds) on as a plain started()."""

    def __init__(self, status: trio.TaskStatus[None]) -> None:
        self._status = status

    def started(self, _binds: object = None) -> None:
        self._status.started()
