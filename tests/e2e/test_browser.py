"""The tracker and the dashboard in a real browser (headless Debian Chromium,
driven by Playwright), against the real daemon. Loopback only.

A test page, served by a small HTTP server of the test, includes the tracker
from the daemon under renamed paths (script and endpoint). The browser loads
it, changes route like a single-page app, clicks an outbound and a download
link, sends a custom event with props and revenue, and leaves the page; the
events must arrive with the right fields. Then it signs in to the dashboard
and checks that the numbers shown are the Stats API's and that the chart was
drawn (the README's screenshots are test_dashboard_ui.py's).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from analyticsd.core.buckets import DAY
from analyticsd.core.dimensions import PAGE as PAGE_DIM
from tests import web
from tests.e2e.stats_traffic import plan, send
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "browser-token-0123456789abcdef"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the network flags Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
# Headless Chromium says "HeadlessChrome", which analyticsd counts as a bot
# (as it should): the browser is given a desktop Chrome's user agent, for
# every request (a per-page override does not reach beacons sent while a
# page unloads).
CHROMIUM_ARGS.append(f"--user-agent={USER_AGENT}")
ROOT = Path(__file__).resolve().parents[2]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Test shop</title>
<script>window.analyticsd = window.analyticsd || function () {
  (window.analyticsd.q = window.analyticsd.q || []).push(arguments) };
analyticsd("Early", {props: {queued: "yes"}});</script>
<script defer data-domain="browser.test" data-local src="{daemon}/t/a.js"></script>
</head><body style="height: 3000px">
<h1>Test shop</h1>
<button id="spa" onclick="history.pushState({}, '', '/spa/route')">Go to the app route</button>
<a id="out" href="http://127.0.0.2:{port}/elsewhere" onclick="event.preventDefault()">Elsewhere</a>
<a id="dl" href="/files/report.pdf" onclick="event.preventDefault()">Report</a>
<a id="next" href="/other.html">Next page</a>
</body></html>
"""
OTHER = """<!doctype html><html><head><meta charset="utf-8">
<script defer data-domain="browser.test" data-local src="{daemon}/t/a.js"></script>
</head><body><p>Other page</p></body></html>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_pages(pages: Path, port: int) -> Iterator[None]:
    """The test's own pages, served on loopback while the block runs."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_Quiet, directory=str(pages))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()  # stops the loop; server_close() closes the socket
        server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str, Browser]]:
    tmp = tmp_path_factory.mktemp("browser")
    page_port, port = free_port(), free_port()
    pages = tmp / "pages"
    pages.mkdir()
    daemon_url = f"http://127.0.0.1:{port}"
    (pages / "index.html").write_text(
        PAGE.replace("{daemon}", daemon_url).replace("{port}", str(page_port))
    )
    (pages / "other.html").write_text(OTHER.replace("{daemon}", daemon_url))
    extra = f"""
[api]
tokens = ["{TOKEN}"]

[tracker]
script_path = "/t/a.js"
event_path = "/t/e"

[[sites]]
id = "browser.test"
origins = ["http://127.0.0.1:{page_port}"]
"""
    site_extra = """
[[sites.goals]]
event = "Signup"

[[sites.funnels]]
name = "Pricing to signup"
steps = [{page = "/"}, {page = "/pricing"}, {event = "Signup"}]
"""
    geo = str(build_city_db(tmp / "city.mmdb"))
    d = Daemon(write_config(tmp, port, extra=extra, site_extra=site_extra, geoip=geo), port)
    d.start()
    try:
        with serve_pages(pages, page_port), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield d, f"http://127.0.0.1:{page_port}", browser
            finally:
                browser.close()
    finally:
        d.kill()


def events_of(d: Daemon, site: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT name, path, props, revenue_micros, currency FROM events WHERE site = ? "
        "ORDER BY ts, rowid",
        (site,),
    ).fetchall()
    db.close()
    return [
        {"name": n, "path": p, "props": json.loads(pr) if pr else {}, "revenue": (rv, cur)}
        for n, p, pr, rv, cur in rows
    ]


def engagement_of(d: Daemon, site: str) -> dict[str, tuple[int, int, int]]:
    """Per page, the DAY rows' (engaged ms, scroll sum, scroll count)."""
    db = sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT val, sum(engaged_ms), sum(scroll_sum), sum(scroll_n) FROM engagement "
        "WHERE site = ? AND gran = ? AND dim = ? GROUP BY val",
        (site, DAY, PAGE_DIM),
    ).fetchall()
    db.close()
    return {path: (ms, scroll, n) for path, ms, scroll, n in rows}


def wait_for(d: Daemon, site: str, check: Any, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = events_of(d, site)
        if check(seen):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"events never matched: {seen}")


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events]


def test_tracker_in_a_browser(setup: tuple[Daemon, str, Browser]) -> None:
    d, pages, browser = setup
    page = browser.new_page()
    page.goto(f"{pages}/index.html")
    evs = wait_for(d, "browser.test", lambda e: "pageview" in names(e))
    evs = wait_for(d, "browser.test", lambda e: "Early" in names(e))
    # Called before the script loaded: sent after the page view, as Plausible does.
    assert [(e["name"], e["path"]) for e in evs[:2]] == [
        ("pageview", "/index.html"),
        ("Early", "/index.html"),
    ]
    assert evs[1]["props"] == {"queued": "yes"}

    page.click("#spa")  # a single-page-app route change
    page.click("#out")
    page.click("#dl")
    page.evaluate(
        "analyticsd('Signup', {props: {plan: 'pro'}, revenue: {amount: 9.5, currency: 'EUR'}})"
    )
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # to the bottom
    page.wait_for_timeout(300)
    page.click("#next")  # leaving: engagement of /spa/route, then the next page
    page.wait_for_load_state()
    evs = wait_for(
        d,
        "browser.test",
        lambda e: (
            names(e).count("pageview") >= 3 and "/spa/route" in engagement_of(d, "browser.test")
        ),
    )
    # Engagement is no event: it is in the engagement rows only.
    assert "engagement" not in names(evs)
    by_name = {e["name"]: e for e in evs}
    assert [e["path"] for e in evs if e["name"] == "pageview"] == [
        "/index.html",
        "/spa/route",
        "/other.html",
    ]
    assert by_name["Outbound Link: Click"]["props"] == {
        "url": f"http://127.0.0.2:{pages.rsplit(':', 1)[1]}/elsewhere"
    }
    assert by_name["File Download"]["props"] == {"url": f"{pages}/files/report.pdf"}
    signup = by_name["Signup"]
    assert (signup["path"], signup["props"], signup["revenue"]) == (
        "/spa/route",
        {"plan": "pro"},
        (9_500_000, "EUR"),
    )
    engaged_ms, scroll_sum, scroll_n = engagement_of(d, "browser.test")["/spa/route"]
    assert (scroll_sum, scroll_n) == (100, 1)  # scrolled to the bottom, once
    assert engaged_ms > 0

    # Opting out in this browser: nothing more is sent.
    page.evaluate("localStorage.analyticsd_ignore = 'true'")
    before = len(events_of(d, "browser.test"))
    page.evaluate("history.pushState({}, '', '/ignored')")
    page.evaluate("analyticsd('Ignored')")
    page.wait_for_timeout(1500)
    assert len(events_of(d, "browser.test")) == before
    page.close()


def test_tracker_skips_localhost_without_data_local(setup: tuple[Daemon, str, Browser]) -> None:
    d, pages, browser = setup
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    html = f'<script src="{d.url}/t/a.js" data-domain="browser.test"></script>'
    page.route(
        f"{pages}/local.html", lambda route: route.fulfill(body=html, content_type="text/html")
    )
    page.goto(f"{pages}/local.html")
    page.wait_for_timeout(800)
    assert f"{d.url}/t/a.js" in requests
    assert not [u for u in requests if u.endswith("/t/e")]
    page.close()


def dashboard_data(d: Daemon) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    visits = plan(int((today - timedelta(days=2)).timestamp() * 1000))
    send(d, visits)
    d.wait_caught_up()


def api(d: Daemon, endpoint: str, **params: Any) -> Any:
    r = web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params={"site_id": TEST_SITE, **params},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def sign_in(page: Page, d: Daemon, token: str) -> None:
    page.goto(f"{d.url}/")
    page.fill("#token", token)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # keyboard only


def test_dashboard_shows_the_api_numbers(
    setup: tuple[Daemon, str, Browser], tmp_path: Path
) -> None:
    d, _, browser = setup
    dashboard_data(d)
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    sign_in(page, d, "not-the-token-0123456789")
    assert "not accepted" in page.text_content("body")
    sign_in(page, d, TOKEN)
    cookie = next(c for c in page.context.cookies() if c["name"] == "analyticsd_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    page.goto(f"{d.url}/#site={TEST_SITE}&period=7d")
    page.check("#compare")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    cards = "visitors,visits,pageviews,bounce_rate,visit_duration"
    want = api(d, "aggregate", period="7d", compare="previous_period", metrics=cards)["results"]
    shown = {
        el.get_attribute("data-metric"): el.query_selector(".value").text_content()
        for el in page.query_selector_all(".card")
    }
    assert shown["visitors"] == f"{want['visitors']['value']:,}"
    assert shown["visits"] == f"{want['visits']['value']:,}"
    assert shown["pageviews"] == f"{want['pageviews']['value']:,}"
    assert shown["bounce_rate"] == f"{want['bounce_rate']['value']}%"
    pages = api(
        d, "breakdown", period="7d", property="event:page", metrics="visitors,pageviews", limit=10
    )
    rows = page.query_selector_all("table[data-property='event:page'] tr")[1:]
    assert [r.query_selector("td").text_content() for r in rows] == [
        p["page"] for p in pages["results"]
    ]
    # The chart: the daemon's SVG, with a drawn series and the comparison.
    assert page.query_selector("#chart svg path.series") is not None
    assert page.query_selector("#chart svg path.compare") is not None
    assert page.text_content("#current") == str(api(d, "realtime/visitors"))
    # A City database: regions and cities, and no note that one is needed.
    regions = api(d, "breakdown", period="7d", property="visit:region", metrics="visitors")
    assert table_rows(page, "visit:region") == [r["region"] for r in regions["results"]][:10]
    assert "City database" not in page.text_content("#tables")
    funnel = api(d, "funnel", period="7d", funnel="Pricing to signup")
    steps = page.query_selector_all("#funnel-steps li")
    assert len(steps) == len(funnel["steps"])
    assert f"{funnel['steps'][0]['visitors']:,} visitors" in steps[0].text_content()

    # A custom date range: the two days of traffic.
    first, last = (datetime.now(UTC).date() - timedelta(days=n) for n in (2, 1))
    page.select_option("#period", "custom")
    page.fill("#from", first.isoformat())
    page.fill("#to", last.isoformat())
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("body[data-ready='1']")
    custom = api(d, "aggregate", period="custom", date=f"{first},{last}", metrics="visitors")
    shown_visitors = page.text_content(".card[data-metric='visitors'] .value")
    assert shown_visitors == f"{custom['results']['visitors']['value']:,}"
    page.select_option("#period", "7d")
    page.wait_for_load_state("networkidle")

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # Dark mode renders too (the same page, the other colour scheme).
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(tmp_path / "dashboard-dark.png"))

    with page.expect_navigation():
        page.click("text=Sign out")
    assert page.query_selector("#token") is not None
    page.close()


def table_rows(page: Page, prop: str) -> list[str]:
    cells = page.query_selector_all(f"table[data-property='{prop}'] tr td:first-child")
    return [c.text_content() or "" for c in cells]


def test_dashboard_with_the_bundled_database(
    setup: tuple[Daemon, str, Browser], tmp_path: Path
) -> None:
    """No [geoip] setting: countries from the bundled database on day one,
    and the region and city panels say they need a City database and how."""
    _, _, browser = setup
    port = free_port()
    d = Daemon(write_config(tmp_path, port, extra=f'[api]\ntokens = ["{TOKEN}"]\n'), port)
    d.start()
    try:
        assert web.get(f"{d.url}/dashboard/setup.json").status_code == 401  # signed in only
        r = web.post(
            f"{d.url}/api/event",
            json={"siteId": TEST_SITE, "eventType": "pageview", "path": "/"},
            # Google Public DNS's address (US: see tests/storage/test_geoip.py),
            # through the trusted loopback proxy.
            headers={"X-Forwarded-For": "8.8.8.8", "User-Agent": USER_AGENT},
        )
        assert r.status_code == 202
        d.wait_caught_up()
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        sign_in(page, d, TOKEN)
        page.goto(f"{d.url}/#site={TEST_SITE}&period=day")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        countries = table_rows(page, "visit:country")
        assert countries[0] == "US"
        assert "bundled database @ip-location-db/geo-whois-asn-country-mmdb" in countries[-1]
        assert "NRO" in countries[-1]  # the attribution CC BY asks for
        for prop, what in (("visit:region", "Regions"), ("visit:city", "Cities")):
            (note,) = table_rows(page, prop)
            assert note.startswith(f"{what} need a City database. The bundled database knows "
                                   "countries only: set [geoip] database")  # fmt: skip
            assert "GeoLite2 City or DB-IP City Lite" in note
        # What the page is told: no file paths, the kind of database.
        info = page.evaluate("fetch('/dashboard/setup.json').then((r) => r.json())")
        assert info == {
            "geoip": True, "database": "bundled", "loaded": True, "cities": False,
            "package": d.health()["geoip"]["package"], "license": d.health()["geoip"]["license"],
        }  # fmt: skip
        page.close()
    finally:
        d.kill()
