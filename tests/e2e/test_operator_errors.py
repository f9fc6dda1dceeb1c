"""What an operator sees when something is wrong: one line naming the address,
path or key, and a documented exit code (cli.py; the README's table).

Each case runs the real command line against a real daemon on a free port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

EXIT_CONFIG, EXIT_DOWN, EXIT_LISTEN, EXIT_DATA_DIR, EXIT_PIPE = 2, 3, 4, 5, 141


def _run(config: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    """`analyticsd run` that is expected to exit on its own."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "analyticsd", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_port_in_use_is_one_line_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run(write_config(tmp_path, port))
    assert out.returncode == EXIT_LISTEN
    assert _last_line(out.stderr) == (
        f"analyticsd: cannot listen on 127.0.0.1:{port}: address in use"
    )
    assert "Traceback" not in out.stderr
    assert "fatal error" not in out.stderr


def test_data_dir_locked_by_another_daemon(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)
    d.start()
    try:
        assert d.proc is not None
        # The same file again: the data dir is what stops the second one.
        out = _run(d.config)
    finally:
        d.kill()
    assert out.returncode == EXIT_DATA_DIR
    assert _last_line(out.stderr) == (
        f"analyticsd: the data directory {tmp_path / 'data'} is locked by another "
        f"analyticsd (pid {d.proc.pid})"
    )
    assert "Traceback" not in out.stderr


def _without_dac_override() -> tuple[str, ...]:
    """Root passes every permission check; without these two capabilities
    it meets the mode bits like anyone else."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


def test_data_dir_permission_denied(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o000)
    try:
        out = _run(config, *_without_dac_override())
    finally:
        data.chmod(0o700)
    assert out.returncode == EXIT_DATA_DIR
    assert _last_line(out.stderr) == (
        f"analyticsd: cannot use the data directory {data}: permission denied"
    )
    assert "Traceback" not in out.stderr


def _send(d: Daemon, site: str = TEST_SITE) -> int:
    r = web.post(
        f"{d.url}/api/event",
        timeout=5,
        json={"siteId": site, "eventType": "pageview", "path": "/x"},
    )
    return r.status_code


def test_status_and_reload_with_a_broken_file(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)
    d.start()
    good = d.config.read_text()
    try:
        assert _send(d) == 202
        # A bad value: the reload is refused and says which key.
        d.config.write_text(good.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/X"'))
        refused = d.cli("reload")
        assert refused.returncode == EXIT_CONFIG
        assert refused.stderr == (
            "analyticsd: reload refused, the running configuration stays: "
            "sites[1].timezone: unknown IANA timezone 'Mars/X'\n"
        )
        status = d.cli("status")
        assert status.returncode == 0
        assert status.stderr.splitlines() == [
            f"analyticsd: {d.config} does not load (1 problem(s)); a running daemon "
            "keeps its configuration and refuses a reload:",
            "  sites[1].timezone: unknown IANA timezone 'Mars/X'",
        ]
        assert "analyticsd 0.1.0: running" in status.stdout
        failed = [line for line in status.stdout.splitlines() if "config:" in line]
        assert len(failed) == 1
        assert failed[0].endswith(
            ", FAILED (running configuration kept): "
            "sites[1].timezone: unknown IANA timezone 'Mars/X'"
        )
        # Not even TOML, and listening elsewhere by its own words: the daemon
        # is still found through its record in the data dir.
        d.config.write_text(good.replace(f"127.0.0.1:{port}", "127.0.0.1:1") + "\n[server\n")
        status = d.cli("status")
        assert status.returncode == 0, status.stderr
        assert "not valid TOML" in status.stderr
        assert "analyticsd 0.1.0: running" in status.stdout
        assert "FAILED (running configuration kept)" in status.stdout
        assert _send(d) == 202  # the old configuration serves on
        # Fixed: the reload applies, and says what.
        d.config.write_text(good.replace('id = "other.example"', 'id = "third.example"'))
        ok = d.cli("reload")
        assert (ok.returncode, ok.stdout, ok.stderr) == (0, "reloaded: sites\n", "")
        assert _send(d, "third.example") == 202
        assert d.stop() == 0
    finally:
        d.kill()
    down = d.cli("reload")
    assert down.returncode == EXIT_DOWN
    assert down.stderr == f"analyticsd: no running analyticsd answers for {tmp_path / 'data'}\n"
    d.config.write_text("[server\n")
    nothing = d.cli("status")
    assert nothing.returncode == EXIT_CONFIG
    assert "not valid TOML" in nothing.stderr


def test_closed_stdout_is_quiet(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port, flush_interval_s=0.1), port)
    d.start()
    try:
        for _ in range(20):
            assert _send(d) == 202
        d.wait_caught_up()
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
        try:
            for args in (["status"], ["status", "--json"]):
                out = subprocess.run(
                    [sys.executable, "-m", "analyticsd", *args, "--config", str(d.config)],
                    stdout=write_end,
                    stderr=subprocess.PIPE,
                    text=True,
                    timeout=30,
                    check=False,
                )
                assert (out.returncode, out.stderr) == (EXIT_PIPE, "")
        finally:
            os.close(write_end)
        # As typed: a long export cut short by head.
        export = (
            f"{sys.executable} -m analyticsd export --site {TEST_SITE} --from 2020-01-01 "
            f"--to 2030-12-31 --rows events --config {d.config}"
        )
        out = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {export} | head -c 1; echo; "
             f"for i in $(seq 8); do {export}; done | head -1"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert "Traceback" not in out.stderr
        assert "BrokenPipe" not in out.stderr
        assert out.stderr == ""
    finally:
        d.kill()


def test_check_config_lists_every_problem_without_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    token, password = "tiny-secret-tok", "hunter2-redis-password"
    text = config.read_text()
    text = text.replace("max_body_bytes = 65536", 'max_body_bytes = "big"\nbogus = 1')
    text = text.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/X"')
    text += f"""
[api]
tokens = ["{token}"]

[forward]
redis_url = "redis://:{password}@localhost:notaport/0"
"""
    config.write_text(text)
    out = Daemon(config, 0).cli("check-config")
    assert out.returncode == EXIT_CONFIG
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        f"analyticsd: {config}: 5 problem(s):",
        "  server.max_body_bytes: Expected `int`, got `str`",
        "  server.bogus: unknown key",
        "  forward.redis_url: expected redis://[:password@]host[:port][/db], rediss://... or "
        "unix:///path (query: db, ssl_ca_certs, ssl_ca_path, ssl_cert_reqs, ssl_certfile, "
        "ssl_check_hostname, ssl_keyfile)",
        "  sites[1].timezone: unknown IANA timezone 'Mars/X'",
        "  api.tokens[0]: each token must be 16-256 printable ASCII characters without spaces "
        "(this one has 15 characters; its value is not shown)",
    ]
    assert token not in out.stderr
    assert password not in out.stderr


def test_help_documents_files_and_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "analyticsd", "--help"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0
    text = out.stdout
    for needle in ("/etc/analyticsd/analyticsd.toml", "/var/lib/analyticsd/", "exit status:",
                   "2 invalid configuration", "3 no running daemon", "4 cannot listen",
                   "5 data dir unusable", "141 standard output closed early"):  # fmt: skip
        assert needle in text, needle
