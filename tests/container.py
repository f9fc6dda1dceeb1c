"""A Debian 12 root of its own, booted with systemd under systemd-nspawn.

systemd is only ever booted on this root, never on the machine's own file
system: its tmpfiles clean-up would empty the machine's /tmp. The root is
made by mmdebstrap from the configured apt sources once and cached as a tar
(`ANALYTICSD_TEST_CACHE`, default ~/.cache/analyticsd-tests); each session
unpacks a fresh copy. The container shares the machine's network, so a
daemon inside listens on this machine's loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
PACKAGES = "systemd,systemd-sysv,dbus,python3,ca-certificates"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "analyticsd-tests"
    return Path(os.environ.get("ANALYTICSD_TEST_CACHE", default))


def why_not() -> str | None:
    """Why a container cannot be booted here, or None."""
    if os.geteuid() != 0:
        return "booting a container needs root (systemd-nspawn, mmdebstrap)"
    for tool in ("mmdebstrap", "systemd-nspawn", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps)"
    return None


def root_tarball(suite: str = SUITE, packages: str = PACKAGES) -> Path:
    """The cached minimal root, made on first use (about 30 s)."""
    tar = cache_dir() / f"{suite}-{packages.replace(',', '+')}.tar"
    if not tar.exists():
        tar.parent.mkdir(parents=True, exist_ok=True)
        part = tar.with_name(f"{tar.stem}.part.tar")
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--format=tar", f"--include={packages}", suite,
             str(part)],
            check=True,
            capture_output=True,
            timeout=900,
        )  # fmt: skip
        part.rename(tar)
    return tar


def unpack(tar: Path, root: Path) -> None:
    root.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tar), "-C", str(root)], check=True, timeout=300)


class Container:
    """One booted container; `run` executes a command inside it."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - kept for the process lifetime
        # In a private mount namespace: nspawn wants a tmpfs under
        # /run/systemd/nspawn, and --keep-unit avoids a system bus this
        # machine does not have.
        script = (
            "mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && "
            f"exec systemd-nspawn -D {root} --boot --register=no --keep-unit "
            "--private-users=no --console=passive"
        )
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.pid1 = self._find_pid1(timeout=30)

    def _find_pid1(self, timeout: float) -> int:
        """The container's systemd: a descendant of the nspawn process."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited:\n{self.log()}")
            for pid in _descendants(self.proc.pid):
                if _comm(pid) == "systemd":
                    return pid
            time.sleep(0.1)
        raise RuntimeError(f"no systemd in the container after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.pid1), "-a", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def wait_running(self, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise RuntimeError(f"system state {state!r} after {timeout} s:\n{self.log()}")

    def poweroff(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.run("systemctl", "poweroff", "--no-block", timeout=10)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=15)
        self._log.close()


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo and len(found) < 10_000:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
