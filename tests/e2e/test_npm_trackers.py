"""Plausible's two official npm trackers, unchanged, in a real browser against the daemon.

`plausible-tracker` (the older library) and `@plausible-analytics/tracker`
(the current one, with engagement events) are installed from the npm
registry once into the test cache (ANALYTICSD_TEST_CACHE) and bundled with
esbuild, as a site would bundle them. The pages only point the trackers at
the daemon (the `endpoint` / `apiHost` option): nothing else differs from
a page that reports to Plausible. Every kind of event the libraries send is
driven, and must be counted as Plausible counts it: page views (also of
single-page-app and hash routes), custom events with props and revenue,
outbound links, file downloads, form submissions, tagged elements, a
`www.` domain; engagement events count as no event, only in the engagement
rows. Loopback only, but for the one npm install.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from analyticsd.core.buckets import DAY
from analyticsd.core.dimensions import PAGE as PAGE_DIM
from tests import web
from tests.container import cache_dir
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, serve_pages
from tests.helpers import Daemon, free_port, write_config

# Pinned, so a new release cannot change what the test measures unseen.
PACKAGES = ("plausible-tracker@0.3.9", "@plausible-analytics/tracker@0.4.6", "esbuild@0.28.2")
SITE = "npm.test"
TOKEN = "npm-trackers-token-0123456789abcdef"

ENTRIES = {
    "current.js": "import { init, track } from '@plausible-analytics/tracker'\n"
    "window.Current = { init, track }\n",
    "legacy.js": "import Plausible from 'plausible-tracker'\nwindow.Legacy = Plausible\n",
}
BODY = """<body style="height: 3000px"><h1>Shop</h1>
<a id="out" href="http://127.0.0.2:{port}/elsewhere" onclick="event.preventDefault()">Out</a>
<a id="dl" href="/files/report.pdf" onclick="event.preventDefault()">Report</a>
<button id="tag" class="plausible-event-name=Signup+Click plausible-event-plan=pro">Sign up</button>
<form id="form" onsubmit="event.preventDefault()"><button id="send">Send</button></form>"""
CURRENT = """<!doctype html><html><head><meta charset="utf-8"><title>Current</title></head>
{body}
<script src="/current.bundle.js"></script>
<script>Current.init({{domain: "{site}", endpoint: "{daemon}/api/event", captureOnLocalhost: true,
  outboundLinks: true, fileDownloads: true, formSubmissions: true,
  hashBasedRouting: {hash}, logging: false}})</script></body></html>"""
# Plausible's classic snippet, only its host changed, on a site that is not
# localhost (the browser resolves *.test to loopback).
SNIPPET = """<!doctype html><html><head><meta charset="utf-8"><title>Snippet</title>
<script defer data-domain="{site}"
  src="http://stats.test:{daemon_port}/js/script.hash.outbound-links.tagged-events.js"></script>
<script>window.plausible = window.plausible || function () {{
  (window.plausible.q = window.plausible.q || []).push(arguments) }}</script>
<script>plausible("Queued", {{props: {{early: "yes"}}}})</script></head>
{body}</html>"""
LEGACY = """<!doctype html><html><head><meta charset="utf-8"><title>Legacy</title></head>
{body}
<script src="/legacy.bundle.js"></script>
<script>window.legacy = Legacy({{domain: "www.{site}", apiHost: "{daemon}",
  trackLocalhost: true, hashMode: true}})</script></body></html>"""


def _bundles(out: Path) -> None:
    """The two libraries from npm, bundled into `out` (installed once per cache)."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed (make system-deps)"
    modules = cache_dir() / ("npm-" + "+".join(p.replace("/", "_") for p in PACKAGES))
    if not (modules / "node_modules" / ".bin" / "esbuild").exists():
        modules.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(modules), "--no-audit", "--no-fund", *PACKAGES],
            check=True,
            capture_output=True,
            timeout=300,
        )
    for name, source in ENTRIES.items():
        entry = modules / name
        entry.write_text(source)
        subprocess.run(
            [str(modules / "node_modules" / ".bin" / "esbuild"), str(entry), "--bundle",
             "--format=iife", f"--outfile={out / name.replace('.js', '.bundle.js')}"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str, Browser]]:
    tmp = tmp_path_factory.mktemp("npm")
    page_port, port = free_port(), free_port()
    pages = tmp / "pages"
    pages.mkdir()
    _bundles(pages)
    daemon = f"http://127.0.0.1:{port}"
    body = BODY.replace("{port}", str(page_port))
    fill = {"body": body, "site": SITE, "daemon": daemon}
    (pages / "current.html").write_text(CURRENT.format(hash="false", **fill))
    (pages / "hash.html").write_text(CURRENT.format(hash="true", **fill))
    (pages / "legacy.html").write_text(LEGACY.format(**fill))
    (pages / "snippet.html").write_text(SNIPPET.format(daemon_port=port, **fill))
    extra = f"""
[api]
tokens = ["{TOKEN}"]

[[sites]]
id = "{SITE}"
origins = ["http://127.0.0.1:{page_port}", "http://shop.test:{page_port}"]
"""
    d = Daemon(write_config(tmp, port, extra=extra), port)
    d.start()
    try:
        with serve_pages(pages, page_port), sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP *.test 127.0.0.1"],
            )
            try:
                yield d, f"http://127.0.0.1:{page_port}", browser
            finally:
                browser.close()
    finally:
        d.kill()


def _db(d: Daemon) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)


def stored(d: Daemon) -> list[tuple[str, str, dict[str, Any], int | None]]:
    db = _db(d)
    rows = db.execute(
        "SELECT name, path, props, revenue_micros FROM events WHERE site = ? ORDER BY ts, rowid",
        (SITE,),
    ).fetchall()
    db.close()
    return [(n, p, json.loads(pr) if pr else {}, rv) for n, p, pr, rv in rows]


def engagement(d: Daemon) -> dict[str, tuple[int, int, int]]:
    db = _db(d)
    rows = db.execute(
        "SELECT val, engaged_ms, scroll_sum, scroll_n FROM engagement "
        "WHERE site = ? AND gran = ? AND dim = ?",
        (SITE, DAY, PAGE_DIM),
    ).fetchall()
    db.close()
    return {path: (ms, scroll, n) for path, ms, scroll, n in rows}


def wait_until(check: Any, what: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"never happened; last seen: {what()}")


def aggregate(d: Daemon) -> dict[str, int]:
    r = web.get(
        f"{d.url}/api/v1/stats/aggregate",
        params={"site_id": SITE, "period": "day", "metrics": "pageviews,events"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.text
    return {k: v["value"] for k, v in r.json()["results"].items()}


def drive_current(page: Page, pages: str) -> list[tuple[str, str]]:
    """Every event kind of @plausible-analytics/tracker; what each should store."""
    page.goto(f"{pages}/current.html")
    page.click("#out")
    page.click("#dl")
    page.click("#tag")
    page.click("#send")
    page.evaluate(
        "Current.track('Purchase', "
        "{props: {plan: 'pro'}, revenue: {amount: 29.99, currency: 'USD'}})"
    )
    page.evaluate("Current.track('Ping', {interactive: false})")
    page.evaluate("history.pushState({}, '', '/current/route')")  # engagement of current.html
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    page.evaluate("history.pushState({}, '', '/current/last')")  # engagement of the route
    page.goto(f"{pages}/hash.html")
    page.evaluate("location.hash = '#/cart'")
    page.wait_for_timeout(200)
    return [
        ("pageview", "/current.html"),
        ("Outbound Link: Click", "/current.html"),
        ("File Download", "/current.html"),
        ("Signup Click", "/current.html"),
        ("Form: Submission", "/current.html"),
        ("Purchase", "/current.html"),
        ("Ping", "/current.html"),
        ("pageview", "/current/route"),
        ("pageview", "/current/last"),
        ("pageview", "/hash.html"),
        ("pageview", "/hash.html#/cart"),
    ]


def drive_legacy(page: Page, pages: str) -> list[tuple[str, str]]:
    """Every event kind of plausible-tracker; what each should store."""
    page.goto(f"{pages}/legacy.html")
    page.evaluate("legacy.trackPageview()")
    page.evaluate("legacy.trackEvent('Download', {props: {format: 'pdf'}})")
    page.evaluate("location.hash = '#/step2'")
    page.evaluate("legacy.trackPageview()")
    page.evaluate("legacy.enableAutoOutboundTracking(); 0")
    # Last: the library follows the link 150 ms after sending the event.
    with page.expect_request_finished(lambda r: r.url.endswith("/api/event")):
        page.click("#out")
    return [
        ("pageview", "/legacy.html"),
        ("Download", "/legacy.html"),
        ("pageview", "/legacy.html#/step2"),
        ("Outbound Link: Click", "/legacy.html#/step2"),
    ]


def test_both_official_npm_trackers_are_counted_as_plausible_counts_them(
    setup: tuple[Daemon, str, Browser],
) -> None:
    d, pages, browser = setup
    before = Counter((n, p) for n, p, _, _ in stored(d))
    counts_before = aggregate(d)
    page = browser.new_page()
    expected = drive_current(page, pages) + drive_legacy(page, pages)
    page.close()
    want = before + Counter(expected)
    wait_until(lambda: Counter((n, p) for n, p, _, _ in stored(d)) == want, lambda: stored(d))
    events = [e for e in stored(d) if not e[1].startswith("/snippet.html")]
    by_name = {n: (props, revenue) for n, _, props, revenue in events}
    assert by_name["Purchase"] == ({"plan": "pro"}, 29_990_000)
    assert by_name["Signup Click"][0] == {"plan": "pro"}  # a tagged element's class
    assert by_name["Download"][0] == {"format": "pdf"}  # props as a JSON string (legacy)
    assert by_name["File Download"][0] == {"url": f"{pages}/files/report.pdf"}
    # Engagement events are no events: page views plus custom events, as Plausible counts.
    assert "engagement" not in by_name
    pageviews = sum(1 for n, _ in expected if n == "pageview")
    counts = aggregate(d)
    assert counts["pageviews"] - counts_before["pageviews"] == pageviews
    assert counts["events"] - counts_before["events"] == len(expected)
    # ... but the pages left carry their scroll depth: the route was read to the bottom.
    wait_until(lambda: "/current/route" in engagement(d), lambda: engagement(d))
    rows = engagement(d)
    assert rows["/current/route"][1:] == (100, 1)
    _, scroll, n = rows["/current.html"]
    assert n == 1
    assert 0 < scroll < 100


def test_a_plausible_snippet_works_with_only_its_host_changed(
    setup: tuple[Daemon, str, Browser],
) -> None:
    d, pages, browser = setup
    before = Counter((n, p) for n, p, _, _ in stored(d))
    page = browser.new_page()
    page.goto(pages.replace("127.0.0.1", "shop.test") + "/snippet.html")
    page.wait_for_function("window.plausible && !window.plausible.q")  # the script took over
    page.click("#tag")
    page.click("#out")
    page.click("#dl")  # not tracked: file-downloads is not in the script's name
    page.evaluate("plausible('Purchase', {revenue: {amount: 5, currency: 'EUR'}})")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(200)
    page.evaluate("location.hash = '#/cart'")  # hash routing: a page of its own
    page.wait_for_timeout(300)
    page.close()
    want = before + Counter(
        [
            ("pageview", "/snippet.html"),
            ("Queued", "/snippet.html"),
            ("Signup Click", "/snippet.html"),
            ("Outbound Link: Click", "/snippet.html"),
            ("Purchase", "/snippet.html"),
            ("pageview", "/snippet.html#/cart"),
        ]
    )
    wait_until(lambda: Counter((n, p) for n, p, _, _ in stored(d)) == want, lambda: stored(d))
    mine = [e for e in stored(d) if e[1].startswith("/snippet.html")]
    by_name = {n: (props, revenue) for n, _, props, revenue in mine}
    assert by_name["Queued"] == ({"early": "yes"}, None)
    assert by_name["Signup Click"] == ({"plan": "pro"}, None)
    assert by_name["Purchase"] == ({}, 5_000_000)
    # The page left for the hash route reports how far it was read.
    wait_until(lambda: "/snippet.html" in engagement(d), lambda: engagement(d))
    assert engagement(d)["/snippet.html"][1:] == (100, 1)
    # ... and the Stats API answers it as Plausible's page metric.
    r = web.post(
        f"{d.url}/api/v2/query",
        json={
            "site_id": SITE,
            "date_range": "day",
            "metrics": ["scroll_depth"],
            "filters": [["is", "event:page", ["/snippet.html"]]],
        },
        headers={**d.auth(), "Cache-Control": "no-cache"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"dimensions": [], "metrics": [100]}]
