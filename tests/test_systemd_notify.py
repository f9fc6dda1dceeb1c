from __future__ import annotations

import os
import socket

from analyticsd.core import notify
from analyticsd.systemd import Notifier


def test_abstract_socket_and_messages() -> None:
    name = f"analyticsd-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    n = Notifier("@" + name)
    try:
        assert n.enabled
        n.send(notify.ready("up"))
        n.send(notify.reloading(123456789))
        n.send(notify.stopping("bye"))
        got = [sock.recv(1024) for _ in range(3)]
    finally:
        n.close()
        sock.close()
    assert got == [
        b"READY=1\nSTATUS=up",
        b"RELOADING=1\nMONOTONIC_USEC=123456789",
        b"STOPPING=1\nSTATUS=bye",
    ]


def test_unset_is_a_no_op_and_a_dead_socket_does_not_raise() -> None:
    quiet = Notifier(None)
    assert not quiet.enabled
    quiet.send(notify.WATCHDOG)
    gone = Notifier(f"/nonexistent/{os.getpid()}/notify")
    gone.send(notify.WATCHDOG)  # logged once, never raised
    gone.close()


def test_watchdog_interval_is_ours_only() -> None:
    assert notify.watchdog_interval_s({}, 10) is None
    assert notify.watchdog_interval_s({"WATCHDOG_USEC": "60000000"}, 10) == 60.0
    assert notify.watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "10"}, 10) == 2.0
    assert (
        notify.watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "11"}, 10) is None
    )
    assert notify.watchdog_interval_s({"WATCHDOG_USEC": "0"}, 10) is None
    assert notify.watchdog_interval_s({"WATCHDOG_USEC": "soon"}, 10) is None
