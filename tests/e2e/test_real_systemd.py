"""The Debian package under a real systemd (252, Debian 12's), in a container
with a root file system of its own (tests/container.py).

`make deb` builds the package once per session; it is installed with dpkg in
a freshly unpacked minimal Debian 12 booted with systemd-nspawn, and driven
with systemctl and journalctl as an operator would. The daemon inside
listens on this machine's loopback (the container shares the network).

The tests run in file order on one container: installed and started,
countries from the bundled database with no [geoip] setting, a site
added by editing the file and `systemctl reload`, a broken file refused by
`systemctl reload` (visibly) while the old configuration serves on, the
watchdog restarting a stalled daemon, `systemctl stop` within its budget,
then upgrade, remove and purge.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import container, web
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
CONF = "/etc/analyticsd/analyticsd.toml"
DROP_IN = "/etc/systemd/system/analyticsd.service.d/stall.conf"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"
STOP_BUDGET_S = 10.0  # the daemon's own is 7 s; the unit's TimeoutStopSec 30 s


class Box:
    """The booted container, the daemon's port, and a transcript of every command."""

    def __init__(self, c: container.Container, port: int, transcript: Path) -> None:
        self.c = c
        self.port = port
        self.transcript = transcript

    def sh(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        out = self.c.run(*cmd, timeout=timeout)
        with open(self.transcript, "a") as f:
            f.write(f"# {' '.join(cmd)}   (exit {out.returncode})\n{out.stdout}{out.stderr}")
        return out

    def write_config(self, sites: list[str], extra: str = "") -> None:
        blocks = "".join(
            f'\n[[sites]]\nid = "{s}"\norigins = ["https://{s}"]\ntimezone = "UTC"\n' for s in sites
        )
        path = self.c.root / CONF.lstrip("/")
        path.write_text(f"""[server]
listen = "127.0.0.1:{self.port}"
admin_listen = "unix:admin.sock"

[storage]
data_dir = "/var/lib/analyticsd"

[aggregator]
flush_interval_s = 0.5
{blocks}{extra}""")

    def event(self, site: str) -> int:
        r = web.post(
            f"http://127.0.0.1:{self.port}/api/event",
            json={"siteId": site, "eventType": "pageview", "path": "/"},
            timeout=10,
        )
        return r.status_code

    def show(self, prop: str) -> str:
        return self.sh("systemctl", "show", "analyticsd", "-p", prop, "--value").stdout.strip()

    def journal(self) -> str:
        return self.sh("journalctl", "-u", "analyticsd", "--no-pager", "-o", "cat").stdout

    def wait_active(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.show("ActiveState") == "active":
                return
            time.sleep(0.2)
        raise AssertionError(f"not active after {timeout} s:\n{self.journal()}")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    reason = container.why_not()
    if reason is not None:
        pytest.skip(reason)
    built = subprocess.run(
        ["make", "-s", "deb"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (deb,) = sorted((ROOT / "dist").glob("analyticsd_*.deb"))
    tmp = tmp_path_factory.mktemp("systemd")
    root = tmp / "root"
    container.unpack(container.root_tarball(), root)
    (root / "root" / "analyticsd.deb").write_bytes(deb.read_bytes())
    c = container.Container(root, tmp / "console.log")
    b = Box(c, free_port(), tmp / "transcript.txt")
    try:
        c.wait_running()
        # The operator's file is there before the package: dpkg keeps it
        # (a conffile), and postinst gives it the package's permissions.
        (root / "etc" / "analyticsd").mkdir()
        b.write_config(["first.example"])
        (root / CONF.lstrip("/")).chmod(0o644)
        yield b
    finally:
        c.poweroff()
        print(f"\n--- transcript ({b.transcript}) ---\n{b.transcript.read_text()}")


def test_install_and_start(box: Box) -> None:
    out = box.sh("dpkg", "-i", "--force-confold", "/root/analyticsd.deb", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert box.sh("stat", "-c", "%a %U %G", CONF).stdout.strip() == "640 root analyticsd"
    assert box.sh("stat", "-c", "%a %U %G", "/var/lib/analyticsd").stdout.strip() == (
        "700 analyticsd analyticsd"
    )
    # postinst started it; drive it by hand as well.
    box.wait_active()
    assert box.sh("systemctl", "stop", "analyticsd").returncode == 0
    assert box.show("ActiveState") == "inactive"
    start = box.sh("systemctl", "start", "analyticsd")
    assert start.returncode == 0, start.stderr
    # Type=notify: `systemctl start` returned after READY=1, so it serves now.
    assert box.show("Type") == "notify"
    assert box.show("StatusText").startswith("listening on 127.0.0.1:")
    assert box.event("first.example") == 202
    status = box.sh("analyticsd", "status")
    assert status.returncode == 0, status.stderr
    assert "running" in status.stdout
    assert box.show("User") == "analyticsd"
    assert "exit status:" in box.sh("analyticsd", "--help").stdout


def test_countries_on_a_fresh_install(box: Box) -> None:
    """No [geoip] in the operator's file: the package's bundled database
    places a visitor through the trusted proxy (loopback) at once."""
    status = box.sh("analyticsd", "status").stdout
    assert "geoip:        bundled country database (@ip-location-db/" in status
    r = web.post(
        f"http://127.0.0.1:{box.port}/api/event",
        json={"siteId": "first.example", "eventType": "pageview", "path": "/geo"},
        # Google Public DNS: US (tests/storage/test_geoip.py says why this one).
        headers={"X-Forwarded-For": "8.8.8.8", "User-Agent": BROWSER},
        timeout=10,
    )
    assert r.status_code == 202
    today = datetime.now(UTC).date().isoformat()
    deadline = time.monotonic() + 20
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        out = box.sh(
            "analyticsd", "export", "--site", "first.example", "--from", today, "--to", today,
            "--format", "ndjson",
        )  # fmt: skip
        rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if any(r.get("dimension") == "visit:country" for r in rows):
            break
        time.sleep(0.3)
    assert [r["value"] for r in rows if r.get("dimension") == "visit:country"] == ["US"]


def test_edit_and_reload_adds_a_site(box: Box) -> None:
    assert box.event("second.example") == 403
    box.write_config(["first.example", "second.example"])
    out = box.sh("systemctl", "reload", "analyticsd")
    assert out.returncode == 0, out.stderr
    # ExecReload waited for the outcome: the new site takes events at once.
    assert box.event("second.example") == 202
    assert box.show("StatusText") == "running; configuration reloaded"
    assert "configuration reloaded; applied: sites" in box.journal()


def test_broken_file_keeps_the_old_config_and_reload_fails(box: Box) -> None:
    pid = box.show("MainPID")
    box.write_config(
        ["first.example", "second.example", "third.example"], extra="\n[server2]\nx = 1\n"
    )
    out = box.sh("systemctl", "reload", "analyticsd")
    assert out.returncode != 0
    assert "failed" in out.stderr
    status = box.sh("systemctl", "status", "analyticsd", "--no-pager")
    assert 'Status: "reload failed: server2: unknown key"' in status.stdout
    assert box.show("ActiveState") == "active"
    assert box.show("MainPID") == pid  # not restarted
    assert box.event("second.example") == 202  # the old configuration serves on
    assert box.event("third.example") == 403
    journal = box.journal()
    assert "configuration reload failed, the running configuration stays: server2: unknown key" in (
        journal
    )
    assert "reload refused, the running configuration stays: server2: unknown key" in journal
    shown = box.sh("analyticsd", "status")
    assert shown.returncode == 0
    assert "FAILED (running configuration kept): server2: unknown key" in shown.stdout
    box.write_config(["first.example", "second.example"])
    assert box.sh("systemctl", "reload", "analyticsd").returncode == 0


def test_watchdog_restarts_a_stalled_daemon(box: Box) -> None:
    drop_in = box.c.root / DROP_IN.lstrip("/")
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text("[Service]\nEnvironment=ANALYTICSD_FAILPOINT=aggregator.stall\n"
                       "WatchdogSec=3\n")  # fmt: skip
    try:
        assert box.sh("systemctl", "daemon-reload").returncode == 0
        assert box.sh("systemctl", "restart", "analyticsd").returncode == 0
        before = int(box.show("NRestarts"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and int(box.show("NRestarts")) == before:
            time.sleep(0.5)
        assert int(box.show("NRestarts")) > before, box.journal()
        journal = box.journal()
        assert "actor(s) stuck: aggregator; watchdog pings stopped" in journal
        assert "Watchdog timeout" in box.sh("journalctl", "--no-pager", "-u", "analyticsd").stdout
    finally:
        drop_in.unlink()
        box.sh("systemctl", "daemon-reload")
        box.sh("systemctl", "restart", "analyticsd")
    box.wait_active()
    assert box.event("first.example") == 202


def test_stop_within_budget(box: Box) -> None:
    assert box.event("first.example") == 202
    started = time.monotonic()
    out = box.sh("systemctl", "stop", "analyticsd")
    took = time.monotonic() - started
    with open(box.transcript, "a") as f:
        f.write(f"# (systemctl stop took {took:.2f} s; budget {STOP_BUDGET_S:.0f} s)\n")
    assert out.returncode == 0
    assert took < STOP_BUDGET_S
    assert box.show("Result") == "success"
    assert box.show("ExecMainStatus") == "0"
    assert "received SIGTERM, shutting down" in box.journal()


def test_upgrade_remove_purge(box: Box) -> None:
    assert box.sh("systemctl", "start", "analyticsd").returncode == 0
    assert box.event("first.example") == 202
    edited = (box.c.root / CONF.lstrip("/")).read_text()
    pid = box.show("MainPID")
    # The same package again is an upgrade to dpkg: the edited file stays,
    # the service is restarted on the new files, the data dir is kept.
    out = box.sh("dpkg", "-i", "/root/analyticsd.deb", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (box.c.root / CONF.lstrip("/")).read_text() == edited
    box.wait_active()
    assert box.show("MainPID") != pid
    shown = box.sh("analyticsd", "status", "--json")
    assert '"accepted_total": 0' in shown.stdout  # a new process...
    assert '"head_seq": 0' not in shown.stdout  # ...on the same spool
    assert box.sh("dpkg", "-r", "analyticsd", timeout=120).returncode == 0
    assert box.show("LoadState") == "not-found"
    assert (box.c.root / "var/lib/analyticsd/stats.sqlite3").exists()
    assert (box.c.root / CONF.lstrip("/")).exists()
    assert box.sh("dpkg", "-P", "analyticsd", timeout=120).returncode == 0
    assert not (box.c.root / "var/lib/analyticsd").exists()
    assert not (box.c.root / "etc/analyticsd").exists()
    assert box.sh("getent", "passwd", "analyticsd").returncode == 2
