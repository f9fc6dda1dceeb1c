"""Finding and asking the running daemon, for `status` and `reload`.

The configuration file says where the daemon should be, but an operator
runs `status` exactly when the file may be wrong: after a bad edit (it does
not load) or a changed address not yet applied. So the daemon is found
through what it keeps itself: its record in the data dir (storage/
daemon_record.py: pid, bound listener, admin listener), the data dir taken
from the file even when the rest of the file is broken. The file's own
address is the fallback for a daemon that could not write its record.

An answer counts only if it comes from the daemon of that data dir (the
report names it), so a stale record pointing at a port someone else now
uses is not mistaken for our daemon.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from analyticsd.core import config as config_mod
from analyticsd.core import config_check
from analyticsd.core.config import Config
from analyticsd.core.errors import ConfigError
from analyticsd.storage import daemon_record
from analyticsd.storage.daemon_record import DaemonRecord

UNIX_PREFIX = "unix:"
ASK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Target:
    """Which daemon a command is about, as far as the file and the data dir tell."""

    source: str  # the file, or "built-in defaults"
    config: Config | None  # None: the file does not load
    config_error: str | None  # why it does not (every problem, one per line)
    data_dir: str | None  # None: not even the data dir could be read from it
    record: DaemonRecord | None

    def addresses(self) -> list[str]:
        """Where to ask, best first: the admin listener, the bound public one,
        then the file's listen address."""
        out: list[str] = []
        if self.record is not None:
            out += [a for a in (self.record.admin, self.record.listen) if a]
        if self.config is not None:
            admin = config_mod.admin_address(self.config)
            out += [a for a in (admin, self.config.server.listen) if a]
        return list(dict.fromkeys(out))


Loader = Callable[[str | None], tuple[Config, str]]


def find(
    path: str | None,
    load: Loader,
    environ: Mapping[str, str] | None = None,
    read: Callable[[str], bytes] | None = None,
) -> Target:
    """`load(path)` is the CLI's loader; a ConfigError from it is kept, not raised."""
    try:
        cfg, source = load(path)
    except ConfigError as e:
        env = os.environ if environ is None else environ
        chosen = path or env.get(config_mod.CONFIG_ENV_VAR) or config_mod.DEFAULT_CONFIG_PATH
        text = _read_text(chosen, read)
        data_dir = config_check.salvage_data_dir(text) if text is not None else None
        errors = "\n".join(config_check.problems(text)) if text is not None else str(e)
        record = daemon_record.read(data_dir) if data_dir else None
        return Target(chosen, None, errors or str(e), data_dir, record)
    data_dir = cfg.storage.data_dir
    return Target(source, cfg, None, data_dir, daemon_record.read(data_dir))


def _read_text(path: str, read: Callable[[str], bytes] | None) -> bytes | None:
    try:
        if read is not None:
            return read(path)
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _connection(address: str, timeout: float) -> http.client.HTTPConnection:
    if address.startswith(UNIX_PREFIX):
        return _UnixConnection(address[len(UNIX_PREFIX) :], timeout)
    host, port = config_mod.parse_listen(address)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return http.client.HTTPConnection(host, port, timeout=timeout)


connection = _connection  # for commands that POST (backfill_command)


def get_json(address: str, path: str, timeout: float = ASK_TIMEOUT_S) -> dict[str, Any] | None:
    """GET `path` on `address`; the JSON object of a 200, else None."""
    try:
        conn = _connection(address, timeout)
    except ConfigError:
        return None
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        data = json.loads(resp.read())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def ask(target: Target) -> tuple[dict[str, Any], str] | None:
    """The running daemon's report and the address that gave it, or None."""
    want = os.path.abspath(target.data_dir) if target.data_dir else None
    for address in target.addresses():
        report = get_json(address, "/api/health")
        if report is None:
            continue
        if want is not None and report.get("data_dir") != want:
            continue  # another daemon on that address
        return report, address
    return None
