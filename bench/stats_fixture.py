"""The Stats API benchmark fixture: a year of traffic in a real stats database.

One site with 10 million page views over the 365 days up to the moment it is
built (plus a few smaller sites), counted by the real aggregation code (core.aggregate's
Aggregation and storage.statsdb's flush), one flush per day, exactly as the
daemon would have written it. Per-event rows are kept only for the last
`RETENTION_DAYS`, as the daemon's pruning would leave them.

Generation skips HTTP, the spool and enrichment (their speed is measured
elsewhere): records are built already enriched. The result is cached in
bench/out/ by its parameters, since it takes minutes to build.

    python -m bench.stats_fixture [--pageviews N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from analyticsd.core.aggregate import Aggregation
from analyticsd.core.config import StorageConfig
from analyticsd.core.geo import GeoInfo
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.source import Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import ClientInfo
from analyticsd.storage.statsdb import FILENAME, StatsDB

BIG = "big.example"
SMALL = {"shop.example": 400_000, "docs.example": 150_000, "blog.example": 50_000}
TZ = {BIG: "Europe/Berlin", "shop.example": "America/New_York", "docs.example": "UTC",
      "blog.example": "Asia/Tokyo"}  # fmt: skip
RETENTION_DAYS = 31  # the default storage.raw_event_retention_days
VERSION = 5  # bump when the generated traffic (or what the daemon keeps of it) changes
OUT = Path(__file__).parent / "out"

CLIENTS = [
    (ClientInfo("Chrome", "131.0", "Windows", "10", "Desktop", False), 30),
    (ClientInfo("Chrome", "130.0", "Windows", "11", "Desktop", False), 8),
    (ClientInfo("Chrome", "131.0", "Android", "14", "Mobile", False), 20),
    (ClientInfo("Safari", "18.1", "iOS", "18.1", "Mobile", False), 15),
    (ClientInfo("Safari", "18.1", "iOS", "18.1", "Tablet", False), 3),
    (ClientInfo("Safari", "18.1", "Mac", "10.15", "Desktop", False), 8),
    (ClientInfo("Firefox", "133.0", "Windows", "10", "Desktop", False), 5),
    (ClientInfo("Firefox", "133.0", "GNU/Linux", "", "Desktop", False), 3),
    (ClientInfo("Microsoft Edge", "131.0", "Windows", "10", "Desktop", False), 6),
    (ClientInfo("Samsung Browser", "26.0", "Android", "14", "Mobile", False), 2),
]
SOURCES = [
    (Source("Direct", "Direct / None", ""), 35),
    (Source("Organic Search", "Google", "google.com"), 30),
    (Source("Organic Search", "Bing", "bing.com"), 4),
    (Source("Organic Search", "DuckDuckGo", "duckduckgo.com"), 3),
    (Source("Organic Social", "Twitter", "t.co"), 4),
    (Source("Organic Social", "Reddit", "reddit.com/r/selfhosted"), 3),
    (Source("Organic Social", "Hacker News", "news.ycombinator.com"), 3),
    (Source("Email", "newsletter", ""), 3),
    (Source("Paid Search", "Google", "google.com"), 3),
    *(
        (Source("Referral", f"blog{i}.example.org", f"blog{i}.example.org/post"), 1)
        for i in range(12)
    ),
]
COUNTRIES = [
    ("DE", [("Berlin", "Berlin"), ("Bavaria", "Munich"), ("Hamburg", "Hamburg")], 25),
    ("US", [("California", "San Francisco"), ("New York", "New York"), ("Texas", "Austin")], 25),
    ("FR", [("Île-de-France", "Paris"), ("Auvergne-Rhône-Alpes", "Lyon")], 10),
    ("GB", [("England", "London"), ("Scotland", "Edinburgh")], 10),
    ("NL", [("North Holland", "Amsterdam")], 5),
    ("IN", [("Karnataka", "Bengaluru"), ("Maharashtra", "Mumbai")], 8),
    ("JP", [("Tokyo", "Tokyo")], 5),
    ("BR", [("São Paulo", "São Paulo")], 4),
    *((c, [("", "")], 1) for c in ("SE", "PL", "ES", "IT", "CA", "AU", "CH", "AT")),
]
LANGS = ["en-US", "de-DE", "fr-FR", "en-GB", "ja-JP"]
PLANS = ["free", "pro", "team"]


T = TypeVar("T")


class Profile(NamedTuple):
    """What stays the same for every event of a visit."""

    client: ClientInfo
    source: Source
    geo: GeoInfo
    lang: str
    utm: dict[str, str]


def _weighted(items: list[tuple[T, int]]) -> tuple[list[T], list[int]]:
    values, weights = zip(*items, strict=True)
    cum, total = [], 0
    for w in weights:
        total += w
        cum.append(total)
    return list(values), cum


def fixture_dir(pageviews: int) -> Path:
    return OUT / f"stats-fixture-v{VERSION}-{pageviews}"


class Traffic:
    """Visits of one site: Zipf pages, weighted clients, sources, places."""

    def __init__(self, site: str, n_pages: int, seed: int) -> None:
        self.site = site
        self.rng = random.Random(seed)
        # Zipf-distributed: a few pages get most views, a long tail the rest.
        sections = ("blog", "docs", "changelog")
        self.pages = ["/", "/pricing", "/about"]
        self.pages += [f"/{sections[i % 3]}/page-{i}" for i in range(n_pages - 3)]
        harmonic = [1 / (i + 1) ** 1.1 for i in range(len(self.pages))]
        self.page_cum = []
        total = 0.0
        for h in harmonic:
            total += h
            self.page_cum.append(total)
        self.clients = _weighted(CLIENTS)
        self.sources = _weighted(SOURCES)
        self.countries = _weighted([((c, cities), w) for c, cities, w in COUNTRIES])

    def page(self) -> str:
        return self.rng.choices(self.pages, cum_weights=self.page_cum)[0]

    def visit(self, start_ms: int, visitor: str) -> list[EnrichedRecord]:
        rng = self.rng
        client = rng.choices(self.clients[0], cum_weights=self.clients[1])[0]
        source = rng.choices(self.sources[0], cum_weights=self.sources[1])[0]
        country, cities = rng.choices(self.countries[0], cum_weights=self.countries[1])[0]
        region, city = rng.choice(cities)
        email = source.channel == "Email"
        utm = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "launch"}
        who = Profile(client, source, GeoInfo(country, region, city), rng.choice(LANGS),
                      utm if email else {})  # fmt: skip
        n = min(1 + int(rng.expovariate(0.6)), 12)
        out = []
        t = start_ms
        for j in range(n):
            path = "/" if j == 0 and rng.random() < 0.3 else self.page()
            out.append(self._rec(t, visitor, "pageview", path, who, j))
            t += int(rng.expovariate(1 / 45_000))
        if rng.random() < 0.03:
            plan: dict[str, str | int | float | bool] = {"plan": rng.choice(PLANS)}
            last = out[-1].event.path
            out.append(self._rec(t, visitor, "Signup", last, who, n, plan, goals=("Signup",)))
        if rng.random() < 0.01:
            paid = ("49.00", "EUR")
            out.append(
                self._rec(
                    t + 5000,
                    visitor,
                    "purchase",
                    "/checkout",
                    who,
                    n + 1,
                    None,
                    paid,
                    ("purchase",),
                )
            )
        return out

    def _rec(
        self,
        ts: int,
        visitor: str,
        name: str,
        path: str,
        who: Profile,
        j: int,
        props: dict[str, str | int | float | bool] | None = None,
        revenue: tuple[str, str] | None = None,
        goals: tuple[str, ...] = (),
    ) -> EnrichedRecord:
        ev = IncomingEvent(
            site_id=self.site,
            event_type=name,
            path=path,
            hostname=self.site,
            timestamp_ms=ts,
            event_id=None,
            referrer="",
            props=props or {},
            revenue_amount=revenue[0] if revenue else None,
            revenue_currency=revenue[1] if revenue else None,
            session_id=None,
            user_id=f"user{int(visitor[:6], 16) % 5000}" if name != "pageview" else None,
            screen_width=1920 if who.client.device == "Desktop" else 400,
            utm=who.utm if j == 0 else {},
        )
        return EnrichedRecord(
            event_id=f"{self.site}-{ts}-{visitor}-{j}",
            received_ms=ts,
            visitor=visitor,
            prev_visitor="",
            client=who.client,
            geo=who.geo,
            lang=who.lang,
            source=who.source,
            goals=goals,
            event=ev,
        )


def _day_weights(days: int) -> list[float]:
    """Growth over the year, a weekly rhythm (quieter weekends) and noise."""
    rng = random.Random(7)
    w = []
    for d in range(days):
        growth = 0.6 + 0.8 * d / days
        weekday = (d + 3) % 7
        weekly = 0.7 if weekday >= 5 else 1.0
        w.append(growth * weekly * rng.uniform(0.85, 1.15))
    total = sum(w)
    return [x / total for x in w]


def _diurnal(rng: random.Random) -> int:
    """Milliseconds into a local day, busier in the afternoon."""
    hour = rng.gauss(14, 4.5) % 24
    return int(hour * 3_600_000)


def generate(out: Path, pageviews: int, days: int = 365, log: bool = True) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    db = StatsDB(str(out))
    agg = Aggregation(tz_of=dict(TZ))
    sites = {BIG: pageviews, **SMALL}
    traffic = {s: Traffic(s, 3000 if s == BIG else 300, seed=i) for i, s in enumerate(sites)}
    weights = _day_weights(days)
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days - 1)
    horizon = now_ms - RETENTION_DAYS * 86_400_000
    # Visit ids are spool sequences; far above what the bench daemon's new
    # spool will hand out, so they never collide.
    seq, total_pv, started = 1 << 40, 0, time.monotonic()
    for d in range(days):
        day_ms = int((first + timedelta(days=d)).timestamp() * 1000)
        records: list[EnrichedRecord] = []
        for site, target in sites.items():
            t = traffic[site]
            want = round(target * weights[d])
            got, visitors = 0, list[str]()
            while got < want:
                if visitors and t.rng.random() < 0.25:
                    visitor = t.rng.choice(visitors)  # a returning visitor, same day
                else:
                    visitor = f"{t.rng.getrandbits(64):016x}"
                    visitors.append(visitor)
                recs = [
                    r for r in t.visit(day_ms + _diurnal(t.rng), visitor)
                    if r.event.timestamp_ms < now_ms - 60_000  # today: only what has happened
                ]  # fmt: skip
                got += sum(1 for r in recs if r.event.event_type == "pageview") or 1
                records += recs
            total_pv += got
        records.sort(key=lambda r: r.event.timestamp_ms)
        # Buckets are generated in time order, so a bucket's unique-visitor
        # marks start empty (the daemon would recount them from SQLite).
        for site, gran, bucket in agg.marks_needed(records):
            agg.load_marks(site, gran, bucket, set())
        for r in records:
            seq += 1
            agg.add(seq, r)
        batch = agg.take()
        batch.events = [e for e in batch.events if e.ts >= horizon]
        db.flush(batch, min(day_ms + 86_400_000, now_ms))
        agg.committed(batch)
        if log and d % 30 == 0:
            rate = total_pv / max(time.monotonic() - started, 1e-9)
            print(f"  day {d}/{days}: {total_pv:,} page views ({rate:,.0f}/s)", file=sys.stderr)
    # What the daemon's hourly prune leaves: per-event rows of RETENTION_DAYS,
    # hour rows of the default storage.hour_rollup_retention_days.
    hour_days = StorageConfig().hour_rollup_retention_days
    db.prune(horizon, now_ms - hour_days * 86_400_000 if hour_days else None)
    # A daemon started on the fixture has a new, empty spool whose sequence
    # starts at 1: it must not take its records for counted already.
    db.conn.execute("UPDATE meta SET value = 0 WHERE key = 'last_seq'")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.execute("ANALYZE")
    db.close()
    info = {
        "pageviews_big_site": pageviews,
        "pageviews_all_sites": total_pv,
        "days": days,
        "first_day": first.strftime("%Y-%m-%d"),
        "built_for": today.strftime("%Y-%m-%d"),
        "built_at_ms": now_ms,
        "seconds": round(time.monotonic() - started, 1),
        "bytes": os.path.getsize(out / FILENAME),
    }
    (out / "fixture.json").write_text(json.dumps(info, indent=2))
    return info


def ensure(pageviews: int) -> tuple[Path, dict[str, object]]:
    """The fixture for today (rebuilt when missing or from another day: the
    API's periods are relative to today, and the year must end yesterday)."""
    path = fixture_dir(pageviews)
    meta = path / "fixture.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        if info.get("built_for") == datetime.now(UTC).strftime("%Y-%m-%d"):
            # A fixture of an older schema gets what a daemon would do on
            # start: the migrations of StatsDB (e.g. rollup rows added later).
            StatsDB(str(path)).close()
            info["bytes"] = os.path.getsize(path / FILENAME)
            return path, info
    shutil.rmtree(path, ignore_errors=True)
    return path, generate(path, pageviews)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pageviews", type=int, default=10_000_000)
    args = ap.parse_args()
    path, info = ensure(args.pageviews)
    print(json.dumps({"path": str(path), **info, "mib": round(int(info["bytes"]) / 2**20)}))  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
