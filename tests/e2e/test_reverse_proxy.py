"""The documented Caddy and nginx configurations (config/Caddyfile,
config/nginx.conf), run for real in front of the daemon on loopback, with
TLS from a certificate authority made for the test.

Only what cannot be used on a test machine is changed: the name becomes
localhost, the ports free loopback ports, and the certificate the test's
own (Caddy: a `tls` line in place of its automatic certificates).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "proxy-test-token-0123456789"
ORIGIN = "https://test.example"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA and a certificate for localhost signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (make system-deps)")
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=analyticsd test CA",
             cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=localhost",
             cwd=d)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "site.pem", "-days", "2", "-extfile", "ext.cnf",
             cwd=d)  # fmt: skip
    return d


def _caddy(tmp: Path, certs: Path, port: int, upstream: int) -> list[str]:
    text = (ROOT / "config" / "Caddyfile").read_text()
    assert "stats.example.com {" in text
    assert "reverse_proxy 127.0.0.1:8787" in text
    text = text.replace(
        "stats.example.com {",
        # bind: loopback only (a site address alone listens on every interface).
        f"localhost:{port} {{\n\tbind 127.0.0.1\n\ttls {certs / 'site.pem'} {certs / 'site.key'}",
    ).replace("127.0.0.1:8787", f"127.0.0.1:{upstream}")
    # No admin API, no redirect listener on port 80: neither is the config's.
    glob = f"{{\n\tadmin off\n\tauto_https disable_redirects\n\thttp_port {free_port()}\n}}\n"
    conf = tmp / "Caddyfile"
    conf.write_text(glob + text)
    return ["caddy", "run", "--adapter", "caddyfile", "--config", str(conf)]


def _nginx(tmp: Path, certs: Path, port: int, upstream: int) -> list[str]:
    text = (ROOT / "config" / "nginx.conf").read_text()
    for needle in ("listen 443 ssl http2;", "proxy_pass http://127.0.0.1:8787;"):
        assert needle in text
    server = (
        text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
        .replace("listen [::]:443 ssl http2;", "")
        .replace("/etc/letsencrypt/live/stats.example.com/fullchain.pem", str(certs / "site.pem"))
        .replace("/etc/letsencrypt/live/stats.example.com/privkey.pem", str(certs / "site.key"))
        .replace("127.0.0.1:8787", f"127.0.0.1:{upstream}")
    )
    (tmp / "server.conf").write_text(server)
    temp = tmp / "temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp}/server.conf;
}}
""")
    return ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"]


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the proxy exited:\n{log.read_text(errors='replace')}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the proxy did not listen:\n{log.read_text(errors='replace')}")


def _start_proxy(
    name: str, pdir: Path, certs: Path, upstream: int
) -> tuple[subprocess.Popen[bytes], int]:
    """The proxy on a free port; another try if the port was taken meanwhile."""
    env = {**os.environ, "XDG_DATA_HOME": str(pdir), "XDG_CONFIG_HOME": str(pdir),
           "HOME": str(pdir)}  # fmt: skip
    for attempt in range(3):
        port = free_port()
        run = pdir / f"run{attempt}"
        run.mkdir()
        argv = (_caddy if name == "caddy" else _nginx)(run, certs, port, upstream)
        log = run / "proxy.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_port(port, proc, log)
        except RuntimeError:
            proc.kill()
            proc.wait(timeout=10)
            if "address already in use" in log.read_text(errors="replace") and attempt < 2:
                continue
            raise
        return proc, port
    raise AssertionError("unreachable")


@pytest.fixture(params=["caddy", "nginx"])
def proxied(
    request: pytest.FixtureRequest, tmp_path: Path, certs: Path
) -> Iterator[tuple[Daemon, str, ssl.SSLContext]]:
    name: str = request.param
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (make system-deps)")
    port = free_port()
    # The daemon as the documented config sets it up, but with health and
    # metrics left on the public listener: the proxy alone must hide them.
    d = Daemon(
        write_config(tmp_path / "d", port, extra=f'\n[api]\ntokens = ["{TOKEN}"]\n'),
        port,
    )
    pdir = tmp_path / name
    pdir.mkdir()
    d.start()
    try:
        proc, proxy_port = _start_proxy(name, pdir, certs, port)
    except BaseException:
        d.kill()
        raise
    try:
        yield (
            d,
            f"https://localhost:{proxy_port}",
            ssl.create_default_context(cafile=str(certs / "ca.pem")),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        d.kill()


def _event(path: str) -> dict[str, str]:
    return {"siteId": TEST_SITE, "eventType": "pageview", "path": path}


def _from(address: str, tls: ssl.SSLContext | bool = False) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x is this machine)."""
    return web.Client(transport=httpx.HTTPTransport(local_address=address, verify=tls), timeout=10)


def test_tracker_dashboard_and_forwarded_address(
    proxied: tuple[Daemon, str, ssl.SSLContext],
) -> None:
    d, url, tls = proxied
    # What the daemon makes of 127.0.0.2 when it sees it directly.
    with _from("127.0.0.2") as direct:
        own = direct.post(f"{d.url}/api/event", json=_event("/direct"))
    assert own.status_code == 202
    with _from("127.0.0.2", tls) as browser:
        script = browser.get(f"{url}/js/script.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        # A beacon as the tracker sends it, with an X-Forwarded-For of the
        # visitor's own choosing: the proxy replaces it with the address
        # it sees, and the daemon (trusting the proxy) uses that.
        beacon = browser.post(
            f"{url}/api/event",
            content=json.dumps({"n": "pageview", "u": f"{ORIGIN}/via-proxy", "d": TEST_SITE}),
            headers={"Content-Type": "text/plain", "Origin": ORIGIN,
                     "X-Forwarded-For": "203.0.113.9"},
        )  # fmt: skip
        assert beacon.status_code == 202, beacon.text
        assert beacon.headers["access-control-allow-origin"] == ORIGIN
        assert beacon.json()["visitorId"] == own.json()["visitorId"]
        # The dashboard: sign in, the cookie is Secure (the proxy said HTTPS).
        assert 'name="token"' in browser.get(f"{url}/").text  # the sign-in page
        signed = browser.post(f"{url}/login", data={"token": TOKEN})
        assert signed.status_code == 303
        assert "secure" in signed.headers["set-cookie"].lower()
        page = browser.get(f"{url}/")
        assert page.status_code == 200
        assert "<title>analyticsd</title>" in page.text  # the dashboard itself
        assert 'name="token"' not in page.text
        aggregate = browser.get(
            f"{url}/api/v1/stats/aggregate",
            params={"site_id": TEST_SITE, "period": "day", "metrics": "pageviews"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert aggregate.status_code == 200
    # Someone else's address, forwarded by a trusted proxy, is another visitor.
    with _from("127.0.0.1") as proxy_like:
        other = proxy_like.post(
            f"{d.url}/api/event", json=_event("/x"), headers={"X-Forwarded-For": "203.0.113.9"}
        )
    assert other.json()["visitorId"] != own.json()["visitorId"]


@pytest.mark.parametrize(
    "path", ["/metrics", "/api/health", "/metrics?x=1", "/api/health/", "//metrics", "/%6detrics"]
)
def test_health_and_metrics_are_not_exposed(
    proxied: tuple[Daemon, str, ssl.SSLContext], path: str
) -> None:
    d, url, tls = proxied
    assert d.admin_get("/metrics").status_code == 200  # the daemon does serve them
    with httpx.Client(verify=tls, timeout=10) as c:
        r = c.get(f"{url}{path}")
    assert r.status_code == 404
    assert "analyticsd_" not in r.text
    assert "data_dir" not in r.text
