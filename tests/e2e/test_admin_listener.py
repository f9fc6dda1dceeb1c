"""The admin listener: health, metrics and `status` there, not on the public listener."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config


def _admin_daemon(tmp: Path, admin_listen: str, admin: str) -> Daemon:
    port = free_port()
    config = write_config(tmp, port)
    text = config.read_text().replace(
        "read_timeout_s", f'admin_listen = "{admin_listen}"\nread_timeout_s', 1
    )
    config.write_text(text)
    return Daemon(config, port, admin=admin)


def test_unix_socket_in_the_data_dir(tmp_path: Path) -> None:
    sock = tmp_path / "data" / "admin.sock"
    d = _admin_daemon(tmp_path, "unix:admin.sock", f"unix:{sock}")
    d.start()
    try:
        r = web.post(
            f"{d.url}/api/event", timeout=5, json={"siteId": TEST_SITE, "eventType": "pageview",
                                                  "path": "/a"},
        )  # fmt: skip
        assert r.status_code == 202
        # The public listener: what sites and dashboard users need, no more.
        for path in ("/api/health", "/metrics"):
            assert web.get(f"{d.url}{path}", timeout=5).status_code == 404
        assert web.get(f"{d.url}/js/script.js", timeout=5).status_code == 200
        assert web.get(f"{d.url}/", timeout=5).status_code == 200
        # The admin socket: the report and the metrics, for the owner only.
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert d.health()["ingest"]["accepted_total"] == 1
        metrics = d.admin_get("/metrics")
        assert metrics.status_code == 200
        names = {f.name for f in text_string_to_metric_families(metrics.text)}
        assert "analyticsd_events_received" in names
        status = d.cli("status")
        assert status.returncode == 0, status.stderr
        assert "analyticsd 0.1.0: running" in status.stdout
        assert d.stop() == 0
    finally:
        d.kill()
    assert not sock.exists()  # removed on a clean stop
    assert d.cli("status").returncode == 3


def test_loopback_address_and_a_stale_socket(tmp_path: Path) -> None:
    admin_port = free_port()
    d = _admin_daemon(tmp_path, f"127.0.0.1:{admin_port}", f"127.0.0.1:{admin_port}")
    d.start()
    try:
        assert web.get(f"{d.url}/metrics", timeout=5).status_code == 404
        assert web.get(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).status_code == 200
        assert d.cli("status").returncode == 0
    finally:
        d.kill()
    # A socket file left behind by a killed daemon does not stop the next start.
    sock_path = tmp_path / "data" / "admin.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(sock_path))
    left.close()
    d2 = _admin_daemon(tmp_path, "unix:admin.sock", f"unix:{sock_path}")
    d2.start()
    try:
        assert d2.health()["daemon"] == "running"
    finally:
        d2.kill()


def test_admin_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        d = _admin_daemon(tmp_path, f"127.0.0.1:{port}", f"127.0.0.1:{port}")
        out = d.cli("check-config")
        assert out.returncode == 0, out.stderr
        run = subprocess.run(
            [sys.executable, "-m", "analyticsd", "run", "--config", str(d.config)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert run.returncode == 4
    assert run.stderr.strip().splitlines()[-1] == (
        f"analyticsd: cannot listen on 127.0.0.1:{port}: address in use"
    )
