"""Access that holds, through the real daemon: the sign-in attempt limit, a
sign-out that ends the session server-side (a replayed cookie is refused,
also after a restart), tokens scoped to sites, the Origin check of the
sign-in and sign-out forms, `/api/stats` behind a token unless the site is
public, and the token a fresh install makes for itself."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

FULL = "full-token-0123456789abcdef"
SCOPED = "scoped-token-0123456789abcdef"
ACCESS = f"""
[api]
tokens = ["{FULL}", {{ token = "{SCOPED}", sites = ["{TEST_SITE}"] }}]

[[sites]]
id = "public.example"
public = true
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("access")
    port = free_port()
    d = Daemon(write_config(tmp, port, extra=ACCESS), port)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(d: Daemon, token: str, address: str, **headers: str) -> httpx.Response:
    return web.post(
        f"{d.url}/login",
        data={"token": token},
        headers={"Origin": d.url, "X-Forwarded-For": address, **headers},
        timeout=10,
    )


def aggregate(d: Daemon, site: str, **headers: str) -> httpx.Response:
    return web.get(
        f"{d.url}/api/v1/stats/aggregate",
        params={"site_id": site, "metrics": "pageviews"},
        headers=headers,
        timeout=10,
    )


def test_failed_sign_ins_are_limited_per_client_address(daemon: Daemon) -> None:
    for i in range(10):
        r = sign_in(daemon, f"wrong-token-{i:04d}-0123456789", "198.51.100.7")
        assert r.status_code == 403, r.text
    r = sign_in(daemon, "wrong-token-9999-0123456789", "198.51.100.7")
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 10
    assert "Too many failed sign-ins" in r.text
    # While limited, even the right token waits: the limit is checked first.
    assert sign_in(daemon, FULL, "198.51.100.7").status_code == 429
    # Another client address is not held up.
    r = sign_in(daemon, FULL, "198.51.100.8")
    assert r.status_code == 303, r.text
    assert "analyticsd_session" in r.headers["set-cookie"]


def test_a_cookie_replayed_after_sign_out_is_refused_also_after_a_restart(
    daemon: Daemon,
) -> None:
    signed = sign_in(daemon, FULL, "198.51.100.20")
    assert signed.status_code == 303, signed.text
    cookie = signed.cookies["analyticsd_session"]
    jar = {"Cookie": f"analyticsd_session={cookie}"}
    assert aggregate(daemon, TEST_SITE, **jar).status_code == 200
    again = sign_in(daemon, FULL, "198.51.100.21")  # a second browser of the same token
    other = {"Cookie": f"analyticsd_session={again.cookies['analyticsd_session']}"}
    out = web.post(f"{daemon.url}/logout", headers={"Origin": daemon.url, **jar}, timeout=10)
    assert out.status_code == 303
    for replayed in (jar, other):  # every session of the token has ended
        r = aggregate(daemon, TEST_SITE, **replayed)
        assert r.status_code == 401, r.text
        assert "sign in again" in r.json()["error"]
    daemon.stop()
    daemon.start()
    assert aggregate(daemon, TEST_SITE, **jar).status_code == 401
    fresh = sign_in(daemon, FULL, "198.51.100.22")
    fresh_jar = {"Cookie": f"analyticsd_session={fresh.cookies['analyticsd_session']}"}
    assert aggregate(daemon, TEST_SITE, **fresh_jar).status_code == 200


def test_a_scoped_token_reads_its_sites_only(daemon: Daemon) -> None:
    scoped = bearer(SCOPED)
    assert aggregate(daemon, TEST_SITE, **scoped).status_code == 200
    r = aggregate(daemon, "other.example", **scoped)
    # Plausible's 401, as for an unknown site: nothing is disclosed.
    assert r.status_code == 401, r.text
    assert aggregate(daemon, "other.example", **bearer(FULL)).status_code == 200
    sites = web.get(f"{daemon.url}/api/v1/sites", headers=scoped, timeout=10).json()["sites"]
    assert [s["id"] for s in sites] == [TEST_SITE, "public.example"]
    body = {"site_id": "other.example", "metrics": ["visitors"], "date_range": "day"}
    r = web.post(f"{daemon.url}/api/v2/query", json=body, headers=scoped, timeout=10)
    assert r.status_code == 404, r.text
    r = web.get(
        f"{daemon.url}/api/stats", params={"siteId": "other.example"}, headers=scoped, timeout=10
    )
    assert r.status_code == 404, r.text
    # A session of a scoped token has the token's scope.
    signed = sign_in(daemon, SCOPED, "198.51.100.30")
    jar = {"Cookie": f"analyticsd_session={signed.cookies['analyticsd_session']}"}
    assert aggregate(daemon, TEST_SITE, **jar).status_code == 200
    assert aggregate(daemon, "other.example", **jar).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_sign_in_from_another_site_is_refused(daemon: Daemon, headers: dict[str, str]) -> None:
    r = web.post(
        f"{daemon.url}/login",
        data={"token": FULL},
        headers={"X-Forwarded-For": "198.51.100.40", **headers},
        timeout=10,
    )
    assert r.status_code == 403, r.text
    assert "another" in r.text
    assert "set-cookie" not in r.headers


def test_a_sign_out_from_another_site_ends_nothing(daemon: Daemon) -> None:
    signed = sign_in(daemon, FULL, "198.51.100.41")
    jar = {"Cookie": f"analyticsd_session={signed.cookies['analyticsd_session']}"}
    r = web.post(
        f"{daemon.url}/logout", headers={"Origin": "https://evil.example", **jar}, timeout=10
    )
    assert r.status_code == 403
    assert aggregate(daemon, TEST_SITE, **jar).status_code == 200


def test_api_stats_needs_a_token_unless_the_site_is_public(daemon: Daemon) -> None:
    day = datetime.now(UTC).date().isoformat()
    event = {"siteId": "public.example", "eventType": "pageview", "path": "/hello"}
    assert web.post(f"{daemon.url}/api/event", json=event, timeout=10).status_code == 202
    daemon.wait_caught_up()
    url = f"{daemon.url}/api/stats"
    r = web.get(url, params={"siteId": TEST_SITE, "date": day}, timeout=10)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = web.get(url, params={"siteId": TEST_SITE, "date": day}, headers=bearer(FULL), timeout=10)
    assert r.status_code in (200, 404), r.text  # 404: no data that day; never a 401
    r = web.get(url, params={"siteId": "public.example", "date": day}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["totalViews"] == 1
    assert aggregate(daemon, "public.example").status_code == 200  # Stats API reads too
    assert aggregate(daemon, TEST_SITE).status_code == 401


def test_a_fresh_install_makes_a_token_prints_it_once_and_keeps_it(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(write_config(tmp_path, port), port)  # no [api] tokens
    d.start()
    try:
        token_file = tmp_path / "data" / "api.token"
        token = token_file.read_text().strip()
        assert len(token) >= 16
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        assert sign_in(d, token, "198.51.100.50").status_code == 303
        assert aggregate(d, TEST_SITE, **bearer(token)).status_code == 200
        d.stop()
        d.start()
        assert token_file.read_text().strip() == token
        assert aggregate(d, TEST_SITE, **bearer(token)).status_code == 200
    finally:
        d.stop()
    log = d.log()
    assert log.count(token) == 1, "the token is printed at its first start only"
    assert "sign in with the token in" in log


OPEN_LINK = "open-link-secret-0123456789"
LOCKED_LINK = "locked-link-secret-0123456789"
LINKS = f"""
[[sites.shared_links]]
name = "for the team"
secret = "{OPEN_LINK}"

[[sites.shared_links]]
name = "for the board"
secret = "{LOCKED_LINK}"
password = "hunter2-but-longer"
"""


def cookie_of(r: httpx.Response) -> dict[str, str]:
    return {"Cookie": f"analyticsd_session={r.cookies['analyticsd_session']}"}


def reloaded(d: Daemon) -> None:
    generation = d.health()["reload"]["generation"]
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while d.health()["reload"]["generation"] == generation:
        assert time.monotonic() < deadline, "no reload"
        time.sleep(0.05)


def test_shared_links_show_one_site_and_are_revoked_by_a_reload(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, extra=ACCESS, site_extra=LINKS)
    d = Daemon(cfg, port)
    d.start()
    try:
        share = f"{d.url}/share/{TEST_SITE}"
        r = web.get(share, params={"auth": OPEN_LINK}, timeout=10)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/?site={TEST_SITE}"
        jar = cookie_of(r)
        assert web.get(f"{d.url}/", headers=jar, timeout=10).text.count("<html") == 1
        assert aggregate(d, TEST_SITE, **jar).status_code == 200
        assert aggregate(d, "other.example", **jar).status_code == 401  # nothing else
        r = web.get(f"{d.url}/api/stats", params={"siteId": TEST_SITE}, headers=jar, timeout=10)
        assert r.status_code in (200, 404), r.text  # 404: no data yet; never a 401
        r = web.get(f"{d.url}/api/stats", params={"siteId": "other.example"}, headers=jar,
                    timeout=10)  # fmt: skip
        assert r.status_code == 404
        sites = web.get(f"{d.url}/api/v1/sites", headers=jar, timeout=10).json()["sites"]
        assert [s["id"] for s in sites] == [TEST_SITE, "public.example"]
        # The link is not a token: its grant rides on the cookie only.
        link_token = f"shared:{TEST_SITE}:{OPEN_LINK}"
        assert aggregate(d, TEST_SITE, **bearer(link_token)).status_code == 401
        assert web.get(share, params={"auth": "x" * 20}, timeout=10).status_code == 404
        assert web.get(f"{d.url}/share/other.example", timeout=10).status_code == 404
        # A public site needs no secret.
        r = web.get(f"{d.url}/share/public.example", timeout=10)
        assert r.status_code == 303
        assert aggregate(d, "public.example", **cookie_of(r)).status_code == 200

        # A link with a password asks for it, and only then signs in.
        r = web.get(share, params={"auth": LOCKED_LINK}, timeout=10)
        assert r.status_code == 200
        assert 'name="password"' in r.text
        assert "set-cookie" not in r.headers
        origin = {"Origin": d.url, "X-Forwarded-For": "198.51.100.60"}
        r = web.post(share, params={"auth": LOCKED_LINK}, data={"password": "wrong-one"},
                     headers=origin, timeout=10)  # fmt: skip
        assert r.status_code == 403
        assert "set-cookie" not in r.headers
        r = web.post(share, params={"auth": LOCKED_LINK}, data={"password": "hunter2-but-longer"},
                     headers=origin, timeout=10)  # fmt: skip
        assert r.status_code == 303, r.text
        locked_jar = cookie_of(r)
        assert aggregate(d, TEST_SITE, **locked_jar).status_code == 200

        # Removing the open link and reloading ends its sessions, not the other's.
        write_config(tmp_path, port, extra=ACCESS, site_extra=LINKS.split("\n\n", 1)[1])
        reloaded(d)
        assert aggregate(d, TEST_SITE, **jar).status_code == 401
        assert aggregate(d, TEST_SITE, **locked_jar).status_code == 200
        assert web.get(share, params={"auth": OPEN_LINK}, timeout=10).status_code == 404
    finally:
        d.stop()
