"""sd_notify without a library: one datagram per message to $NOTIFY_SOCKET.

A no-op when the variable is unset (not started by systemd). Abstract socket
names (`@...`) are supported. Sending never blocks and never raises: a lost
notification must not take the daemon down (systemd then times it out and
restarts it, which is the safe outcome).
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None) -> None:
        self._addr: str | bytes | None = None
        self._sock: socket.socket | None = None
        if not address:
            return
        self._addr = b"\0" + address[1:].encode() if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)
        self._warned = False

    @classmethod
    def from_environment(cls) -> Notifier:
        return cls(os.environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, message: bytes) -> None:
        if self._sock is None or self._addr is None:
            return
        try:
            self._sock.sendto(message, self._addr)
        except OSError as e:
            if not self._warned:
                log.warning("cannot notify systemd: %s", e)
                self._warned = True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
