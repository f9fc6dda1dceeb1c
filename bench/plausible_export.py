"""A generated Plausible CSV export of a year (the input of `make bench-import`).

Writes the zip Plausible's export makes (Plausible.Exports: one stored
`imported_<table>_<first>_<last>.csv` per table, CSVWithNames, strings
quoted), with a realistic spread: a few hundred pages on a long tail,
search/social/referral/UTM sources, fifty countries, four screen sizes,
browsers and systems with versions, and some custom events. Daily splits
add up: the page views of the pages are the day's page views, the visits of
the sources, devices, browsers, systems, countries and entry pages are the
day's visits.

    python -m bench.plausible_export OUT.zip [--pageviews N] [--year Y]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

Row = list[object]


@dataclass
class Totals:
    pageviews: int = 0
    visitors: int = 0
    visits: int = 0
    rows: int = 0


def _split(total: int, weights: Sequence[float], rng: random.Random) -> list[int]:
    """`total` over the weights (jittered), as integers that add up to it."""
    jit = [w * rng.uniform(0.6, 1.4) for w in weights]
    s = sum(jit)
    raw = [total * w / s for w in jit]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[:rest]:
        out[i] += 1
    return out


def _zipf(n: int, s: float = 1.1) -> list[float]:
    return [1 / (i + 1) ** s for i in range(n)]


PAGES = ["/", "/pricing", "/blog", "/docs", "/about", "/contact", "/signup", "/login"] + [
    f"/blog/post-{i}" for i in range(420)
] + [f"/docs/{s}/{i}" for s in ("guide", "api", "faq") for i in range(60)]  # fmt: skip
SOURCES = [
    # (source, referrer, utm_source, utm_medium, utm_campaign)
    ("", "", "", "", ""),
    ("Google", "google.com", "", "", ""),
    ("Bing", "bing.com", "", "", ""),
    ("DuckDuckGo", "duckduckgo.com", "", "", ""),
    ("Twitter", "t.co", "", "", ""),
    ("Facebook", "facebook.com", "", "", ""),
    ("Reddit", "reddit.com/r/selfhosted", "", "", ""),
    ("Hacker News", "news.ycombinator.com", "", "", ""),
    ("github.com", "github.com/example/repo", "", "", ""),
    ("newsletter", "", "newsletter", "email", "weekly"),
    ("google", "", "google", "cpc", "brand"),
] + [(f"blog{i}.example.net", f"blog{i}.example.net/post", "", "", "") for i in range(30)]
COUNTRIES = ["US", "DE", "GB", "FR", "IN", "CA", "NL", "BR", "ES", "IT", "PL", "SE", "AU", "JP"]
COUNTRIES += [f"{a}{b}" for a in "KLMNRST" for b in "ERZ"][:36]
DEVICES = [("Desktop", 0.45), ("Mobile", 0.38), ("Laptop", 0.12), ("Tablet", 0.05)]
BROWSERS = [(b, v) for b in ("Chrome", "Firefox", "Safari", "Edge", "Opera") for v in
            ("120.0", "121.0", "122.0", "17.2")]  # fmt: skip
SYSTEMS = [(o, v) for o in ("Windows", "Mac", "iOS", "Android", "GNU/Linux") for v in
           ("10", "11", "14", "17.1")]  # fmt: skip
EVENTS = [("Signup", "", ""), ("Outbound Link: Click", "https://github.com/example", ""),
          ("File Download", "https://example.com/a.pdf", ""), ("404", "", "/missing")]  # fmt: skip


def _visit_rows(
    day: str,
    visits: int,
    parts: list[tuple[object, ...]],
    weights: Sequence[float],
    rng: random.Random,
) -> list[Row]:
    out: list[Row] = []
    for dims, n in zip(parts, _split(visits, weights, rng), strict=True):
        if n:
            pv = round(n * rng.uniform(1.8, 2.8))
            out.append([day, *dims, max(1, round(n / 1.15)), n, n * rng.randint(40, 160),
                        round(n * rng.uniform(0.3, 0.6)), pv])  # fmt: skip
    return out


def _day(d: date, pageviews: int, rng: random.Random) -> dict[str, list[Row]]:
    day = d.isoformat()
    visits = round(pageviews / 2.3)
    visitors = round(visits / 1.15)
    out: dict[str, list[Row]] = {
        "imported_visitors": [
            [day, visitors, pageviews, round(visits * 0.45), visits, visits * 95]
        ],
    }
    pages = []
    for page, pv in zip(PAGES, _split(pageviews, _zipf(len(PAGES)), rng), strict=True):
        if pv:
            v = max(1, round(pv / 1.3))
            pages.append([day, "example.com", page, v, max(1, round(v / 1.1)), pv])
    out["imported_pages"] = pages
    for table, col in (("imported_entry_pages", "entrances"), ("imported_exit_pages", "exits")):
        rows = []
        for page, n in zip(PAGES[:150], _split(visits, _zipf(150, 1.3), rng), strict=True):
            if n:
                dur, b, pv = n * rng.randint(30, 200), round(n * 0.45), round(n * 2.1)
                vis = max(1, round(n / 1.15))
                rows.append([day, page, vis, n, dur, b, pv] if col == "entrances"
                            else [day, page, vis, dur, n, b, pv])  # fmt: skip
        out[table] = rows
    src = [(s, r, us, um, uc, "", "") for s, r, us, um, uc in SOURCES]
    sources = _visit_rows(day, visits, src, _zipf(len(src), 0.9), rng)
    # imported_sources puts pageviews first (Plausible's column order)
    out["imported_sources"] = [[r[0], *r[1:8], r[12], r[8], r[9], r[10], r[11]] for r in sources]
    locs = [
        (c, f"{c}-{i}", str(1000 + n * 10 + i)) for n, c in enumerate(COUNTRIES) for i in (1, 2)
    ]
    out["imported_locations"] = _visit_rows(day, visits, locs, _zipf(len(locs), 1.0), rng)
    out["imported_devices"] = _visit_rows(day, visits, [(d,) for d, _ in DEVICES],
                                          [w for _, w in DEVICES], rng)  # fmt: skip
    out["imported_browsers"] = _visit_rows(day, visits, BROWSERS, _zipf(len(BROWSERS)), rng)
    out["imported_operating_systems"] = _visit_rows(day, visits, SYSTEMS, _zipf(len(SYSTEMS)), rng)
    events = []
    for (name, url, path), n in zip(EVENTS, _split(visits // 20, [5, 3, 2, 1], rng), strict=True):
        if n:
            events.append([day, name, url, path, max(1, round(n / 1.2)), n])
    out["imported_custom_events"] = events
    return out


HEADERS = {
    "imported_visitors": ["date", "visitors", "pageviews", "bounces", "visits", "visit_duration"],
    "imported_sources": ["date", "source", "referrer", "utm_source", "utm_medium", "utm_campaign",
                         "utm_content", "utm_term", "pageviews", "visitors", "visits",
                         "visit_duration", "bounces"],
    "imported_pages": ["date", "hostname", "page", "visits", "visitors", "pageviews"],
    "imported_entry_pages": ["date", "entry_page", "visitors", "entrances", "visit_duration",
                             "bounces", "pageviews"],
    "imported_exit_pages": ["date", "exit_page", "visitors", "visit_duration", "exits", "bounces",
                            "pageviews"],
    "imported_custom_events": ["date", "name", "link_url", "path", "visitors", "events"],
    "imported_locations": ["date", "country", "region", "city", "visitors", "visits",
                           "visit_duration", "bounces", "pageviews"],
    "imported_devices": ["date", "device", "visitors", "visits", "visit_duration", "bounces",
                         "pageviews"],
    "imported_browsers": ["date", "browser", "browser_version", "visitors", "visits",
                          "visit_duration", "bounces", "pageviews"],
    "imported_operating_systems": ["date", "operating_system", "operating_system_version",
                                   "visitors", "visits", "visit_duration", "bounces", "pageviews"],
}  # fmt: skip


def csv_text(header: list[str], rows: list[Row]) -> str:
    """ClickHouse's CSVWithNames as Plausible writes it: strings quoted, numbers bare."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_zip(path: str, first: date, last: date, tables: dict[str, list[Row]]) -> None:
    suffix = f"_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, rows in tables.items():
            zf.writestr(name + suffix, csv_text(HEADERS[name], rows))


def write_export(
    path: str, year: int = 2023, pageviews: int = 1_050_000, seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> Totals:  # fmt: skip
    rng = random.Random(seed)
    first, last = date(year, 1, 1), date(year, 12, 31)
    days = (last - first).days + 1
    weights = [(1.0 if (first + timedelta(i)).weekday() < 5 else 0.6) * rng.uniform(0.8, 1.2)
               for i in range(days)]  # fmt: skip
    tables: dict[str, list[Row]] = {name: [] for name in HEADERS}
    totals = Totals()
    for i, pv in enumerate(_split(pageviews, weights, rng)):
        for name, rows in _day(first + timedelta(i), pv, rng).items():
            tables[name] += rows
        totals.pageviews += pv
    totals.visitors = sum(int(r[1]) for r in tables["imported_visitors"])  # type: ignore[call-overload]
    totals.visits = sum(int(r[4]) for r in tables["imported_visitors"])  # type: ignore[call-overload]
    totals.rows = sum(len(r) for r in tables.values())
    progress(f"{totals.rows:,} rows")
    write_zip(path, first, last, tables)
    return totals


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--pageviews", type=int, default=1_050_000)
    p.add_argument("--year", type=int, default=2023)
    a = p.parse_args()
    t = write_export(a.out, a.year, a.pageviews)
    print(f"{a.out}: {t.pageviews:,} page views, {t.visitors:,} visitors, {t.rows:,} rows")


if __name__ == "__main__":
    main()
