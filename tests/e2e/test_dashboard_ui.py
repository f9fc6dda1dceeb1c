"""The dashboard in a real browser (headless Debian Chromium driven by
Playwright) against the real daemon: filters from every table, chart metric
and interval, the custom events panel, the details view with its CSV, the
360 px layout, the keyboard, and axe-core in light and dark. Every number
the page shows is compared with the Stats API's answer to the same question.
One daemon and one browser for the module; loopback only (axe-core is
installed from npm once, into the test cache).

UPDATE_SCREENSHOT=1 copies the desktop, phone and dark screenshots to docs/.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests import web
from tests.container import cache_dir
from tests.e2e.stats_traffic import SITE_EXTRA, UAS, iso, plan, send
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.geo_fixture import build_city_db
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "dashboard-ui-token-0123456789"
AXE_VERSION = "4.10.3"
ROOT = Path(__file__).resolve().parents[2]
OUTBOUND, DOWNLOAD = "Outbound Link: Click", "File Download"
SHARE_SECRET, SHARE_PASSWORD = "shared-view-secret-0123456789", "board-password-42"
SHARED_LINK = f"""
[[sites.shared_links]]
name = "for the board"
secret = "{SHARE_SECRET}"
password = "{SHARE_PASSWORD}"
"""
CARD_METRICS = "visitors,visits,pageviews,bounce_rate,visit_duration"


def extra_traffic(d: Daemon, day_ms: int) -> None:
    """Thirty more visitors yesterday evening, each on a page of its own (the
    details view needs more than one page of rows), some clicking outbound
    links and downloading files."""
    with web.Client(timeout=10) as client:
        for i in range(30):
            t = day_ms + 20 * 3_600_000 + i * 60_000
            items: list[dict[str, Any]] = [{"eventType": "pageview", "path": f"/p/{i}"}]
            if i % 3 == 0:
                items.append(
                    {"eventType": OUTBOUND, "props": {"url": f"https://out.example/{i % 2}"}}
                )
            if i % 5 == 0:
                items.append({"eventType": DOWNLOAD, "props": {"url": f"/files/r{i % 2}.pdf"}})
            for n, item in enumerate(items):
                item.update(
                    siteId=TEST_SITE,
                    url=f"https://test.example{item.pop('path', f'/p/{i}')}",
                    timestamp=iso(t + n * 1000),
                    eventId=str(uuid.uuid4()),
                )
            headers = {"User-Agent": UAS["desktop"], "X-Forwarded-For": f"203.0.113.{100 + i}"}
            if i < 2:
                # The visit's first page is its exit page until the next one
                # arrives after a flush: the rollup keeps a row of 0 exits.
                first = {**items[0], "url": "https://test.example/was-exit"}
                first.update(timestamp=iso(t - 1000), eventId=str(uuid.uuid4()))
                r = client.post(f"{d.url}/api/batch", json={"events": [first]}, headers=headers)
                assert r.status_code == 202, r.text
                d.wait_caught_up()
            r = client.post(f"{d.url}/api/batch", json={"events": items}, headers=headers)
            assert r.status_code == 202, r.text


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Browser]]:
    tmp = tmp_path_factory.mktemp("dashboard-ui")
    port = free_port()
    geo = str(build_city_db(tmp / "city.mmdb"))
    extra = f'\n[api]\ntokens = ["{TOKEN}"]\n'
    site_extra = SITE_EXTRA + SHARED_LINK
    d = Daemon(write_config(tmp, port, extra=extra, site_extra=site_extra, geoip=geo), port)
    d.start()
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        day0 = int((today - timedelta(days=2)).timestamp() * 1000)
        send(d, plan(day0))
        extra_traffic(d, day0 + 86_400_000)
        d.wait_caught_up()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield d, browser
            finally:
                browser.close()
    finally:
        d.kill()


def api(d: Daemon, endpoint: str, **params: Any) -> Any:
    r = web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params={"site_id": TEST_SITE, **params},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def rows_of(d: Daemon, prop: str, metrics: str, **params: Any) -> list[list[str]]:
    """The API's breakdown as the dashboard shows it: rows whose first metric
    is not zero, each [value, metric texts...]."""
    key = prop.removeprefix("event:props:").split(":")[-1]
    names = metrics.split(",")
    res = api(d, "breakdown", property=prop, metrics=metrics, **params)["results"]
    return [[str(r[key]), *(cell(r[m], m) for m in names)] for r in res if r[names[0]]]


def num(v: float) -> str:
    """A number as JavaScript writes it (50.0 is "50")."""
    return str(int(v)) if float(v).is_integer() else str(v)


def locale(v: float) -> str:
    """A number as JavaScript's toLocaleString() writes it in en-US."""
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,}"


def cell(v: Any, metric: str) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{locale(a)} {c}" for c, a in v.items()) or "\u2013"
    if v is None:
        return "\u2013"
    return locale(v) + ("%" if metric.endswith("rate") else "")


def card_text(metric: str, v: Any) -> str:
    if v is None:
        return "—"
    if metric == "bounce_rate":
        return num(v) + "%"
    if metric == "visit_duration":
        return (f"{int(v) // 60}m " if v >= 60 else "") + f"{num(v % 60)}s"
    return f"{v:,}"


def table_rows(page: Page, selector: str) -> list[list[str]]:
    out = []
    for tr in page.query_selector_all(f"{selector} tr")[1:]:
        cells = [td.text_content() or "" for td in tr.query_selector_all("td")]
        if len(cells) > 1:
            out.append(cells)
    return out


def ready(page: Page) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def open_dashboard(browser: Browser, d: Daemon, hash_: str, **context: Any) -> Page:
    ctx: BrowserContext = browser.new_context(**context)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, d, TOKEN)
    page.goto(f"{d.url}/#{hash_}")
    ready(page)
    return page


def shown_cards(page: Page) -> dict[str, tuple[str, str | None]]:
    out = {}
    for card in page.query_selector_all(".card"):
        change = card.query_selector(".change")
        out[card.get_attribute("data-metric") or ""] = (
            card.query_selector(".value").text_content() or "",  # type: ignore[union-attr]
            change.text_content() if change else None,
        )
    return out


def assert_view_matches_api(page: Page, d: Daemon, filters: str) -> None:
    params = {"period": "7d", **({"filters": filters} if filters else {})}
    want = api(d, "aggregate", metrics=CARD_METRICS, **params)["results"]
    assert {m: v for m, (v, _) in shown_cards(page).items()} == {
        m: card_text(m, want[m]["value"]) for m in CARD_METRICS.split(",")
    }
    for prop, metrics in [
        ("event:page", "visitors,pageviews"),
        ("visit:source", "visitors,bounce_rate"),
        ("visit:device", "visitors"),
        ("visit:country", "visitors"),
    ]:
        shown = table_rows(page, f"table[data-property='{prop}']")
        assert shown == rows_of(d, prop, metrics, limit=10, **params), prop


def pick(page: Page, prop: str, value: str) -> None:
    table = page.locator(f"#tables table[data-property='{prop}']")
    table.get_by_role("button", name=value, exact=True).click()
    ready(page)


def test_rows_filter_the_dashboard_and_the_url_keeps_the_view(
    setup: tuple[Daemon, Browser],
) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    assert_view_matches_api(page, d, "")

    pick(page, "visit:source", "Google")
    assert "f=visit:source==Google" in unquote(page.url)
    assert page.text_content("#filters") == "Source is Google \u00d7"
    assert_view_matches_api(page, d, "visit:source==Google")

    pick(page, "visit:device", "Desktop")
    both = "visit:device==Desktop;visit:source==Google"
    assert_view_matches_api(page, d, both)

    # "is not": the chip's operator switches.
    page.get_by_role("button", name="Device: is (switch)").click()
    ready(page)
    negated = "visit:device!=Desktop;visit:source==Google"
    assert_view_matches_api(page, d, negated)

    # The URL reproduces the view in a fresh page: the same numbers and chips.
    copy = browser.new_context().new_page()
    sign_in(copy, d, TOKEN)
    copy.goto(page.url)
    ready(copy)
    assert shown_cards(copy) == shown_cards(page)
    assert copy.text_content("#filters") == page.text_content("#filters")
    assert_view_matches_api(copy, d, negated)
    copy.context.close()

    # Goals, pages and countries filter too; a chip's x removes its filter.
    page.get_by_role("button", name="Remove the filter Device Desktop").click()
    ready(page)
    pick(page, "event:goal", "Signup")
    assert_view_matches_api(page, d, "event:goal==Signup;visit:source==Google")
    page.click("#clear-filters")
    ready(page)
    pick(page, "visit:country", "DE")
    pick(page, "event:page", "/pricing")
    assert_view_matches_api(page, d, "event:page==/pricing;visit:country==DE")
    page.go_back()  # the browser's history holds each view
    ready(page)
    assert_view_matches_api(page, d, "visit:country==DE")
    page.context.close()


def chart_points(page: Page) -> list[str]:
    return [c.text_content() or "" for c in page.query_selector_all("#chart svg circle title")]


def test_cards_choose_the_chart_metric_interval_and_comparison(
    setup: tuple[Daemon, Browser],
) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    series = api(d, "timeseries", period="7d", metrics="visitors")["results"]
    assert chart_points(page) == [f"{p['date']}: {p['visitors']:,}" for p in series]

    page.click(".card[data-metric='bounce_rate']")
    ready(page)
    assert "metric=bounce_rate" in page.url
    assert page.get_attribute(".card[data-metric='bounce_rate']", "aria-pressed") == "true"
    assert page.text_content("#chart-title") == "Bounce rate over time"
    series = api(d, "timeseries", period="7d", metrics="bounce_rate")["results"]
    want = [f"{p['date']}: {'—' if p['bounce_rate'] is None else num(p['bounce_rate']) + '%'}"
            for p in series]  # fmt: skip
    assert chart_points(page) == want

    for interval in ("hour", "date"):
        page.select_option("#interval", interval)
        ready(page)
        series = api(d, "timeseries", period="7d", metrics="bounce_rate", interval=interval)
        assert [t.split(": ")[0] for t in chart_points(page)] == [
            p["date"] for p in series["results"]
        ]
    assert page.is_disabled("#interval option[value='month']")  # not for 7 days

    # Comparing: the previous period is drawn, each change is the API's.
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    page.goto(f"{d.url}/#site={TEST_SITE}&period=custom&from={yesterday}&to={yesterday}"
              "&compare=previous_period&metric=visits")  # fmt: skip
    ready(page)
    assert page.query_selector("#chart svg path.compare") is not None
    res = api(d, "aggregate", period="custom", date=f"{yesterday},{yesterday}",
              metrics=CARD_METRICS, compare="previous_period")["results"]  # fmt: skip
    assert res["visits"]["comparison_value"] > 0
    for metric, (_, change) in shown_cards(page).items():
        c = res[metric]["change"]
        unit = " pts" if metric == "bounce_rate" else "%"
        assert change == ("+" if c > 0 else "") + num(c) + unit, metric
    page.context.close()


def test_an_empty_previous_period_reads_the_same_on_every_card(
    setup: tuple[Daemon, Browser],
) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d&compare=previous_period")
    res = api(d, "aggregate", period="7d", metrics=CARD_METRICS, compare="previous_period")
    assert res["results"]["visits"]["comparison_value"] == 0
    cards = shown_cards(page)
    assert {m: c for m, (_, c) in cards.items()} == {
        m: "new" if res["results"][m]["value"] else "—" for m in CARD_METRICS.split(",")
    }
    assert set(c for _, c in cards.values()) == {"new"}
    # Nothing now and nothing before: "—" everywhere, no red or green.
    page.goto(f"{d.url}/#site={TEST_SITE}&period=custom&from=2020-01-01&to=2020-01-07"
              "&compare=previous_period")  # fmt: skip
    ready(page)
    assert {c for _, c in shown_cards(page).values()} == {"—"}
    assert not page.query_selector(".change.up, .change.down")
    # Per-event rows are not kept that long: the events panel says so, alone.
    assert "raw_event_retention_days" in (page.text_content("#events-table") or "")
    page.context.close()


# Every table of the dashboard: (property, metrics, the filter it adds).
TABLES = [
    ("event:page", "visitors,pageviews", ""),
    ("visit:entry_page", "visits,bounce_rate", ""),
    ("visit:exit_page", "visits", ""),
    ("visit:source", "visitors,bounce_rate", ""),
    ("visit:referrer", "visitors", ""),
    ("visit:utm_source", "visitors", ""),
    ("visit:utm_medium", "visitors", ""),
    ("visit:utm_campaign", "visitors", ""),
    ("visit:device", "visitors", ""),
    ("visit:browser", "visitors", ""),
    ("visit:os", "visitors", ""),
    ("visit:country", "visitors", ""),
    ("visit:region", "visitors", ""),
    ("visit:city", "visitors", ""),
    ("event:goal", "visitors,events,conversion_rate,revenue", ""),
    ("event:props:url", "visitors,events", OUTBOUND),
    ("event:props:url", "visitors,events", DOWNLOAD),
]


def test_every_table_is_the_apis_without_zero_rows(setup: tuple[Daemon, Browser]) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d&f=visit:os!=iOS")
    for prop, metrics, event in TABLES:
        where = f"[data-event='{event}']" if event else ":not([data-event])"
        shown = table_rows(page, f"#tables section{where}[data-property='{prop}'] table")
        filters = "visit:os!=iOS" + (f";event:name=={event}" if event else "")
        assert shown == rows_of(d, prop, metrics, period="7d", limit=10, filters=filters), prop
        assert shown, prop
    page.goto(f"{d.url}/#site={TEST_SITE}&period=7d")
    ready(page)
    exits = rows_of(d, "visit:exit_page", "visits", period="7d", limit=10)
    shown_exits = table_rows(page, "table[data-property='visit:exit_page']")
    assert shown_exits == exits
    shown = 0
    for table in page.query_selector_all("table"):
        for tr in table.query_selector_all("tr")[1:]:
            cells = [td.text_content() for td in tr.query_selector_all("td")]
            if len(cells) > 1:
                shown += 1
                assert cells[1] not in ("0", "0%", "\u2013"), (
                    table.get_attribute("data-property"),
                    cells,
                )
    assert shown > 40
    # The full list too: a page that stopped being an exit page is left out.
    page.click("button[aria-label='Exit pages: details']")
    page.wait_for_selector("body[data-details='1']")
    page.fill("#details-search", "/")
    every = rows_of(d, "visit:exit_page", "visits", period="7d", limit=1000)
    listed = [r[0] for r in details_rows(page)]
    while page.is_enabled("#details-next"):
        page.click("#details-next")
        listed += [r[0] for r in details_rows(page)]
    assert sorted(listed) == sorted(r[0] for r in every)
    assert "/was-exit" not in listed
    page.context.close()


def test_custom_events_and_their_props(setup: tuple[Daemon, Browser]) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    total = api(d, "aggregate", period="7d", metrics="visitors")["results"]["visitors"]["value"]
    res = api(d, "breakdown", period="7d", property="event:name", metrics="visitors,events")
    want = [
        [r["name"], f"{r['visitors']:,}", f"{r['events']:,}",
         num(math.floor(1000 * r["visitors"] / total + 0.5) / 10) + "%"]
        for r in res["results"] if r["name"] not in ("pageview", "engagement")
    ]  # fmt: skip
    assert {r[0] for r in want} >= {OUTBOUND, DOWNLOAD, "Signup", "purchase"}
    assert table_rows(page, "#events-table table") == want

    for event, key in [(OUTBOUND, "url"), (DOWNLOAD, "url"), ("Signup", "plan")]:
        page.select_option("#event-choice", event)
        page.wait_for_selector(f"body[data-props='{event}']")
        shown = table_rows(page, f"#props-tables table[data-property='event:props:{key}']")
        assert shown == rows_of(
            d, f"event:props:{key}", "visitors,events", period="7d", limit=10,
            filters=f"event:name=={event}",
        )  # fmt: skip
        assert shown
    # Outbound links and downloads have tables of their own, with the URLs.
    for event in (OUTBOUND, DOWNLOAD):
        shown = table_rows(page, f"section[data-event='{event}'] table")
        assert shown == rows_of(
            d, "event:props:url", "visitors,events", period="7d", limit=10,
            filters=f"event:name=={event}",
        )  # fmt: skip
    page.context.close()


def details_rows(page: Page) -> list[list[str]]:
    return table_rows(page, "#details-table table")


def test_details_search_sort_pages_and_csv(setup: tuple[Daemon, Browser], tmp_path: Path) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    every = rows_of(d, "event:page", "visitors,pageviews", period="7d", limit=1000)
    assert len(every) > 20
    page.click("button[aria-label='Top pages: details']")
    page.wait_for_selector("body[data-details='1']")
    assert details_rows(page) == every[:20]
    assert page.text_content("#details-page") == f"1\u201320 of {len(every)}"
    page.click("#details-next")
    assert details_rows(page) == every[20:40]

    # Sorting by a column (again: the other way round).
    page.click("#details-table th:nth-child(3) button")
    by_views = sorted(every, key=lambda r: (-int(r[2].replace(",", "")), r[0]))
    assert details_rows(page) == by_views[:20]  # from the first page again
    page.click("#details-table th:nth-child(3) button")
    ascending = sorted(every, key=lambda r: (int(r[2].replace(",", "")), r[0]))
    assert details_rows(page) == ascending[:20]

    page.fill("#details-search", "BLOG")
    found = [r for r in ascending if "blog" in r[0]]
    assert found
    assert details_rows(page) == found
    with page.expect_download() as dl:
        page.click("#details-csv")
    path = tmp_path / "pages.csv"
    dl.value.save_as(path)
    got = list(csv.reader(io.StringIO(path.read_text())))
    assert got[0] == ["page", "visitors", "pageviews"]
    assert got[1:] == [[r[0], r[1].replace(",", ""), r[2].replace(",", "")] for r in found]

    # A row of the list filters the dashboard.
    page.locator("#details-table").get_by_role("button", name=found[0][0], exact=True).click()
    ready(page)
    assert page.text_content("#filters") == f"Page is {found[0][0]} \u00d7"
    assert not page.is_visible("#details")
    page.context.close()


def test_keyboard_alone_filters_and_opens_details(setup: tuple[Daemon, Browser]) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    for _ in range(400):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Twitter":
            break
    else:
        raise AssertionError("Tab never reached the Twitter row")
    page.keyboard.press("Enter")
    ready(page)
    assert "f=visit:source==Twitter" in unquote(page.url)
    page.focus("button[aria-label='Sources: details']")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-details='1']")
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    assert not page.is_visible("#details")
    page.context.close()


def axe_source() -> str:
    """axe-core from npm, installed once into the test cache (pinned)."""
    root = cache_dir() / f"axe-core-{AXE_VERSION}"
    script = root / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for axe-core (make system-deps)"
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund",
             "--no-package-lock", f"axe-core@{AXE_VERSION}"],
            check=True, timeout=300, capture_output=True,
        )  # fmt: skip
    return script.read_text()


def serious_violations(page: Page, axe: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe)
    found = page.evaluate("""async () => (await axe.run(document)).violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '))""")
    return list(found)


def no_side_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    )


def test_phone_layout_and_axe_in_light_and_dark(
    setup: tuple[Daemon, Browser], tmp_path: Path
) -> None:
    d, browser = setup
    axe = axe_source()
    # The page's CSP forbids inline scripts; axe is injected as one.
    ctx = browser.new_context(viewport={"width": 360, "height": 800}, bypass_csp=True)
    page = ctx.new_page()
    page.goto(f"{d.url}/")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        no_side_scroll(page)
        assert serious_violations(page, axe) == [], f"sign-in, {scheme}"
    sign_in(page, d, TOKEN)
    page.goto(
        f"{d.url}/#site={TEST_SITE}&period=7d&compare=previous_period&f=visit:device==Desktop"
    )
    ready(page)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        no_side_scroll(page)
        assert serious_violations(page, axe) == [], f"dashboard, {scheme}"
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"))
    page.click("button[aria-label='Top pages: details']")
    page.wait_for_selector("body[data-details='1']")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        no_side_scroll(page)
        assert serious_violations(page, axe) == [], f"details, {scheme}"
    ctx.close()

    desk = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d&compare=previous_period",
                          viewport={"width": 1280, "height": 900})  # fmt: skip
    desk.screenshot(path=str(tmp_path / "dashboard-desktop.png"), full_page=True)
    desk.emulate_media(color_scheme="dark")
    desk.screenshot(path=str(tmp_path / "dashboard-dark.png"))
    desk.context.close()
    for name in ("desktop", "phone", "dark"):
        shot = tmp_path / f"dashboard-{name}.png"
        assert shot.stat().st_size > 10_000
        if os.environ.get("UPDATE_SCREENSHOT"):
            shutil.copy(shot, ROOT / "docs" / shot.name)


def test_the_world_map_shows_the_countries_and_filters(setup: tuple[Daemon, Browser]) -> None:
    d, browser = setup
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    want = api(d, "breakdown", period="7d", property="visit:country", metrics="visitors")
    seen = {
        p.get_attribute("data-country"): p.query_selector("title").text_content()  # type: ignore[union-attr]
        for p in page.query_selector_all("#map path.seen")
    }
    assert seen == {
        r["country"]: f"{r['country']}: {r['visitors']:,} visitors" for r in want["results"]
    }
    assert len(page.query_selector_all("#map path")) > 150  # the world, not only the seen
    page.focus("#map path[data-country='FR']")
    page.keyboard.press("Enter")
    ready(page)
    assert "f=visit:country==FR" in unquote(page.url)
    assert_view_matches_api(page, d, "visit:country==FR")
    page.context.close()


def test_the_props_list_needs_a_session(setup: tuple[Daemon, Browser]) -> None:
    d, _ = setup
    today = date.today().isoformat()
    params = {"site_id": TEST_SITE, "period": "7d", "date": today, "event": "Signup"}
    assert web.get(f"{d.url}/dashboard/props.json", params=params).status_code == 401
    assert web.get(f"{d.url}/dashboard/chart.svg", params=params).status_code == 401


def test_a_shared_link_shows_the_apis_numbers_and_passes_axe(
    setup: tuple[Daemon, Browser],
) -> None:
    d, browser = setup
    axe = axe_source()
    ctx = browser.new_context(viewport={"width": 360, "height": 800}, bypass_csp=True)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{d.url}/share/{TEST_SITE}?auth={SHARE_SECRET}")
    for scheme in ("light", "dark"):  # the link's password page
        page.emulate_media(color_scheme=scheme)
        no_side_scroll(page)
        assert serious_violations(page, axe) == [], f"shared link's password, {scheme}"
    page.fill("#password", SHARE_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.goto(f"{d.url}/#site={TEST_SITE}&period=7d")
    ready(page)
    # One site, and nothing else: the switcher offers it alone.
    options = [o.text_content() for o in page.query_selector_all("#site option")]
    assert options == [TEST_SITE]
    assert_view_matches_api(page, d, "")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        no_side_scroll(page)
        assert serious_violations(page, axe) == [], f"shared view, {scheme}"
    ctx.close()


def test_without_a_geoip_database_the_map_says_how_to_set_one(
    setup: tuple[Daemon, Browser],
) -> None:
    # Last in the module: it reloads the daemon with GeoIP off ("" would be
    # the bundled country database).
    d, browser = setup
    text = d.config.read_text()
    d.config.write_text("\n".join(
        'database = "none"' if line.startswith("database = ") else line
        for line in text.splitlines()
    ))  # fmt: skip
    assert d.cli("reload").returncode == 0
    page = open_dashboard(browser, d, f"site={TEST_SITE}&period=7d")
    note = page.text_content("#map") or ""
    assert "No GeoIP database is configured" in note
    assert "[geoip] database" in note
    assert page.query_selector("#map svg") is None
    for prop in ("visit:region", "visit:city"):
        cells = page.query_selector_all(f"table[data-property='{prop}'] tr td:first-child")
        assert any("GeoIP is off" in (c.text_content() or "") for c in cells), prop
    page.context.close()
