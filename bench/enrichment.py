"""Enrichment and aggregation throughput in isolation (no HTTP, no disk).

100,000 events from 5,000 distinct user agents (about 10% bots), 20,000
client addresses, a referrer/UTM mix. Timed:

* enrichment: what the receiver derives from the request (user agent →
  browser/OS/device/bot with a cold cache, GeoIP, visitor id, language) plus
  the record encoding, and what the enricher adds as it reads (decoding,
  traffic source, goals); once with a small City GeoIP database, once with
  the bundled country database (the default) and 20,000 public addresses;
* GeoIP lookups alone: the cost of one lookup in the bundled database
  (IPv4 and IPv6 addresses spread over the allocated space) and in the City
  database, and the share of addresses it places in a country;
* aggregation: sessions, unique-visitor marks and bucket rows for the same
  events, then settling the sessions as a flush would.
"""

from __future__ import annotations

import ipaddress
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from analyticsd.core.aggregate import Aggregation
from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import enrich, rules_for
from analyticsd.core.geo import not_locatable
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.spool_record import EnrichedRecord, Record, decode, encode
from analyticsd.core.useragent import UAClassifier
from analyticsd.http.client_facts import ClientProfiler
from analyticsd.storage.geoip import GeoLookup

N_EVENTS = 100_000
N_UAS = 5_000
N_IPS = 20_000
SITE = "bench.example"
_REFERRERS = [
    {},
    {"referrer": "https://www.google.com/search?q=x"},
    {"referrer": "https://www.google.co.uk/"},
    {"referrer": "https://t.co/abc"},
    {"referrer": "https://news.ycombinator.com/item?id=1"},
    {"referrer": "https://blog.example.org/post"},
    {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "nov"},
    {"url": "https://bench.example/landing?gclid=abc"},
]


def user_agents(rng: random.Random) -> list[str]:
    oses = [
        "Windows NT 10.0; Win64; x64",
        "Macintosh; Intel Mac OS X 10_15_7",
        "X11; Linux x86_64",
        "Linux; Android 14; Pixel 8",
        "Linux; Android 13; SM-X710",
        "iPhone; CPU iPhone OS 17_4 like Mac OS X",
        "iPad; CPU OS 17_3 like Mac OS X",
    ]
    uas: set[str] = set()
    while len(uas) < N_UAS * 9 // 10:
        o, v, b = rng.choice(oses), rng.randrange(90, 131), rng.randrange(1000, 7000)
        kind = rng.randrange(4)
        if kind == 0:
            ua = (
                f"Mozilla/5.0 ({o}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{v}.0.{b}.0 Safari/537.36"
            )
        elif kind == 1:
            ua = f"Mozilla/5.0 ({o}; rv:{v}.0) Gecko/20100101 Firefox/{v}.{b % 10}"
        elif kind == 2:
            ua = (
                f"Mozilla/5.0 ({o}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/17.{b % 6} Mobile/15E{b} Safari/604.1"
            )
        else:
            ua = (
                f"Mozilla/5.0 ({o}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                f"Safari/537.36 Edg/{v}.0.{b}.{b % 97}"
            )
        uas.add(ua)
    bots = ["Googlebot/2.1", "bingbot/2.0", "AhrefsBot/7.0", "HeadlessChrome/120.0.0.0", "curl"]
    while len(uas) < N_UAS:
        uas.add(f"Mozilla/5.0 (compatible; {rng.choice(bots)}; build {rng.randrange(10**6)})")
    return sorted(uas)


def geo_db(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for i in range(256):
        writer.insert_network(
            IPSet([f"198.51.{i}.0/24"]),
            {
                "country": {"iso_code": ("DE", "FR", "US", "JP")[i % 4]},
                "subdivisions": [{"names": {"en": f"Region {i % 16}"}}],
                "city": {"names": {"en": f"City {i}"}},
            },
        )
    writer.to_db_file(str(path))
    return path


def public_ipv4(rng: random.Random, n: int) -> list[str]:
    """`n` distinct unicast addresses outside the reserved blocks."""
    out: set[str] = set()
    while len(out) < n:
        ip = ".".join(str(rng.randrange(256)) for _ in range(4))
        if not not_locatable(ip):
            out.add(ip)
    return sorted(out)


def public_ipv6(rng: random.Random, n: int) -> list[str]:
    """`n` addresses at random in the blocks IANA gave the registries
    (2001:200::/23 APNIC, 2400::/12 APNIC, 2600::/12 ARIN, 2800::/12 LACNIC,
    2a00::/12 RIPE NCC, 2c00::/12 AFRINIC): many of them are not handed out
    yet, as in real traffic none would be, so fewer are located than IPv4."""
    nets = [
        ipaddress.IPv6Network(n)
        for n in ("2001:200::/23", "2400::/12", "2600::/12", "2800::/12", "2a00::/12", "2c00::/12")
    ]
    out = []
    for _ in range(n):
        net = rng.choice(nets)
        offset = rng.getrandbits(128 - net.prefixlen)
        out.append(str(ipaddress.IPv6Address(int(net.network_address) + offset)))
    return out


def lookups(geo: GeoLookup, ips: list[str], rounds: int = 5) -> tuple[float, float]:
    """(microseconds per lookup, share of addresses placed in a country)."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for ip in ips:
            geo.lookup(ip)
        best = min(best, time.perf_counter() - t0)
    located = sum(1 for ip in ips if geo.lookup(ip).country)
    return best / len(ips) * 1e6, located / len(ips)


def geo_costs(city: Path) -> dict[str, Any]:
    rng = random.Random(11)
    v4, v6 = public_ipv4(rng, 100_000), public_ipv6(rng, 100_000)
    res: dict[str, Any] = {}
    bundled = GeoLookup("")  # the default: the bundled country database
    if not bundled.enabled:
        raise SystemExit(f"bench: {bundled.error}")
    res["geo_bundled"] = bundled.describe()["package"]
    res["geo_bundled_v4_us"], res["geo_bundled_v4_located"] = lookups(bundled, v4)
    res["geo_bundled_v6_us"], res["geo_bundled_v6_located"] = lookups(bundled, v6)
    bundled.close()
    geo = GeoLookup(str(city))
    fixture = [f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(100_000)]
    res["geo_city_us"], _ = lookups(geo, fixture)
    geo.close()
    return res


def run() -> dict[str, Any]:
    rng = random.Random(7)
    uas = user_agents(rng)
    ips = [f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(N_IPS)]
    public = public_ipv4(rng, N_IPS)
    now = int(time.time() * 1000)
    events: list[tuple[IncomingEvent, int, str]] = []
    for i in range(N_EVENTS):
        body = {
            "siteId": SITE,
            "eventType": "pageview" if i % 10 else "Signup",
            "path": f"/page/{rng.randrange(500)}",
            **rng.choice(_REFERRERS),
        }
        ev = validate_event(body, now - rng.randrange(3_600_000))
        assert isinstance(ev, IncomingEvent)
        events.append((ev, rng.randrange(N_IPS), rng.choice(uas)))
    rules = rules_for([SiteConfig(id=SITE, goals=(GoalConfig(event="Signup"),))])
    with tempfile.TemporaryDirectory() as tmp:
        city = geo_db(Path(tmp) / "city.mmdb")
        geo = GeoLookup(str(city))
        records, enrich_s = enrich_all(events, ips, geo, rules, now)
        geo.close()
        bundled = GeoLookup("")
        located, bundled_s = enrich_all(events, public, bundled, rules, now)
        bundled.close()
        costs = geo_costs(city)
    bots = sum(1 for r in records if r.client.bot)
    people = [r for r in located if not r.client.bot]
    # Worst case: every event from another visitor, so every event opens a visit.
    worst = aggregate(records)
    # Typical: visits of 5 events (the same visitor, a minute apart).
    visits = []
    for i, r in enumerate(records):
        first = records[i - i % 5]
        ts = first.event.timestamp_ms + (i % 5) * 60_000
        ev = msgspec.structs.replace(r.event, timestamp_ms=ts)
        visits.append(
            msgspec.structs.replace(r, visitor=first.visitor, client=first.client, event=ev)
        )
    typical = aggregate(visits)
    return {
        "enrich_events": N_EVENTS,
        "enrich_distinct_uas": len(uas),
        "enrich_bot_share": bots / N_EVENTS,
        "enrich_events_per_s": N_EVENTS / enrich_s,
        "enrich_bundled_events_per_s": N_EVENTS / bundled_s,
        "enrich_bundled_located": sum(1 for r in people if r.geo.country) / len(people),
        **costs,
        "aggregate_new_visit_per_event_events_per_s": worst,
        "aggregate_5_events_per_visit_events_per_s": typical,
    }


def enrich_all(
    events: list[tuple[IncomingEvent, int, str]],
    ips: list[str],
    geo: GeoLookup,
    rules: Any,
    now: int,
) -> tuple[list[EnrichedRecord], float]:
    """Every event through the receiver's and the enricher's steps; (records, seconds)."""
    salt = b"\x01" * 32
    profiler = ClientProfiler(UAClassifier(), geo, lambda _day: salt)  # a cold UA cache
    records: list[EnrichedRecord] = []
    t0 = time.perf_counter()
    for ev, i, ua in events:
        ip = ips[i]
        facts = profiler.facts(ip, ua, "en-US,en;q=0.9")
        visitor, prev = profiler.visitors(SITE, "UTC", ip, ua, now)
        stored = encode(
            Record("e", now, visitor, prev, facts.client, facts.geo, facts.lang, None, (), ev)
        )
        records.append(enrich(decode(stored), rules))
    return records, time.perf_counter() - t0


def aggregate(records: list[EnrichedRecord]) -> float:
    agg = Aggregation(tz_of={SITE: "UTC"})
    t0 = time.perf_counter()
    for seq, rec in enumerate(records, 1):
        if seq % 5000 == 1:
            for site, gran, bucket in agg.marks_needed(records[seq - 1 : seq + 4999]):
                agg.load_marks(site, gran, bucket, set())
        agg.add(seq, rec)
        if seq % 20_000 == 0:  # a flush every 20,000 events
            agg.committed(agg.take())
    agg.committed(agg.take())
    return len(records) / (time.perf_counter() - t0)


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:,.2f}" if isinstance(v, float) else f"{k}: {v}")
