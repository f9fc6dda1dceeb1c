"""Plausible's test events, sent through our own ingest.

Plausible's tests build events with their stored attributes
(`build(:pageview, referrer_source: "Google", browser: "Chrome", user_id: 1)`);
here each becomes a request our ingest takes: a referrer URL, a user agent,
an address in a country's block of a GeoIP database built for the test.
The same `user` is the same address and user agent (one visitor); events
without one get their own visitor, as in Plausible's factories.

Plausible's fixtures are dated 2021; our ingest refuses events older than
7 days, so every date of a case (events, request, expected answer) is moved
by the same number of days to end before today.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and private ranges only: lookups, never traffic.
COUNTRIES = {"EE": "10.1", "US": "10.2", "IT": "10.3", "DE": "10.4", "GB": "10.5"}
NO_COUNTRY = "10.99"
# Plausible's factories leave browser, OS and device empty unless a test sets
# them ("(not set)" in its answers); a user agent that names none of them is
# the same here.
UNKNOWN_UA = "Mozilla/5.0 (compatible)"
PLATFORMS = {
    "Windows": "Windows NT 10.0; Win64; x64",
    "Mac": "Macintosh; Intel Mac OS X 10_15_7",
    "Linux": "X11; Linux x86_64",
    None: "Unknown",  # no OS
}
MAC_10_5 = "Macintosh; U; Intel Mac OS X 10_5; en-us"
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
IE_UA = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.2924.87 Safari/537.36"
AGENTS = {
    "Chrome": _CHROME,
    "Firefox": "Gecko/20100101 Firefox/{v}.0",
    "Safari": "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.2 Safari/605.1.15",
    "Edge": _CHROME + " Edg/{v}.0.0.0",
    None: "Wobble/1.0",  # no browser a parser knows
}
DEFAULT_VERSIONS = {"Chrome": "120", "Firefox": "122", "Safari": "17", "Edge": "120"}
SOURCES = {
    "Google": "https://www.google.com/",
    "Twitter": "https://twitter.com/",
    "Bing": "https://www.bing.com/",
    "Facebook": "https://www.facebook.com/",
}
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
BASE_TS = "2021-01-01 00:00:00"


def build_geo_db(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for country, prefix in COUNTRIES.items():
        writer.insert_network(
            IPSet([f"{prefix}.0.0/16"]),
            {"country": {"iso_code": country, "names": {"en": country}}},
        )
    writer.to_db_file(str(path))
    return path


def _dates(value: Any) -> list[str]:
    return _DATE.findall(str(value))


def shift_days(case: dict[str, Any], today: date) -> int:
    """Days to add to the case's dates so that its events end before today
    and start at most 6 days ago (within what ingest accepts). A case with
    `"today": True` may end today, at midnight (a week of days up to now)."""
    event_days = [
        date.fromisoformat(d) for e in case["events"] for d in _dates(e.get("ts", BASE_TS))
    ]
    if not event_days:
        return 0
    first, last = min(event_days), max(event_days)
    span = 6 if case.get("today") else 5
    assert (last - first).days <= span, f"{case['name']}: events span more than ingest accepts"
    if (last - first).days == 6:
        late = [e["ts"] for e in case["events"] if e.get("ts", "").startswith(str(last))]
        assert all(ts.endswith("00:00:00") for ts in late), f"{case['name']}: later than now"
    return (today - timedelta(days=6) - first).days


def as_ingested(value: Any, written: dict[str, str]) -> Any:
    """A case's request or expected answer with the fixture values its
    `ingest_values` lists replaced by what Plausible's ingest writes for the
    traffic sent instead (see the README: Plausible's factories store some
    values no request makes its ingest write)."""
    if isinstance(value, str):
        return written.get(value, value)
    if isinstance(value, list):
        return [as_ingested(v, written) for v in value]
    if isinstance(value, dict):
        return {k: as_ingested(v, written) for k, v in value.items()}
    return value


_V1_FILTER = re.compile(r"^(\s*[^=!]+?\s*(?:==|!=)\s*)(.*)$")


def v1_as_ingested(params: dict[str, Any], written: dict[str, str]) -> dict[str, Any]:
    """A v1 request read with `ingest_values` (see as_ingested): the values
    of its `filters` (`prop==a|b;prop!=c`) are replaced one by one; a JSON
    filter list is replaced as any other value."""
    text = params.get("filters")
    if not written or not isinstance(text, str) or text.lstrip().startswith("["):
        return as_ingested(params, written)

    def one(flt: str) -> str:
        m = _V1_FILTER.match(flt)
        if m is None:
            return flt
        values = re.split(r"(?<!\\)\|", m.group(2))
        return m.group(1) + "|".join(written.get(v.strip(), v) for v in values)

    rest = as_ingested({k: v for k, v in params.items() if k != "filters"}, written)
    return {**rest, "filters": ";".join(one(f) for f in text.split(";"))}


def shift(value: Any, days: int) -> Any:
    """Every YYYY-MM-DD in a JSON-like value moved by `days`."""
    if isinstance(value, str):
        return _DATE.sub(
            lambda m: str(date.fromisoformat(m.group(1)) + timedelta(days=days)), value
        )
    if isinstance(value, list):
        return [shift(v, days) for v in value]
    if isinstance(value, dict):
        return {k: shift(v, days) for k, v in value.items()}
    return value


def _ua(ev: dict[str, Any]) -> str:
    """A real user agent that Plausible's ingest (and ours) reads as the
    event's browser, browser version, OS and device."""
    browser, os_ = ev.get("browser"), ev.get("os")
    device = ev.get("device") or ev.get("screen")
    if device == "Mobile":
        return MOBILE_UA
    if browser == "IE":
        return IE_UA
    if os_ is None and ev.get("os_version") == "10.5":
        return f"Mozilla/5.0 ({MAC_10_5}) " + AGENTS["Safari"].format(v="3")
    if browser is None and os_ is None and device is None:
        return UNKNOWN_UA
    if os_ is None and device == "Desktop":
        os_ = "Windows"  # a desktop is known by its OS
    version = ev.get("browser_version") or DEFAULT_VERSIONS.get(browser or "", "")
    platform = PLATFORMS.get(os_, PLATFORMS[None])  # an OS no parser knows: none
    if os_ == "Mac" and ev.get("os_version"):
        platform = "Macintosh; Intel Mac OS X " + ev["os_version"].replace(".", "_")
    return f"Mozilla/5.0 ({platform}) " + AGENTS[browser].format(v=version)


class Seeder:
    """Our batch items (with their headers) for one case's events."""

    def __init__(self, site: str, days: int) -> None:
        self.site = site
        self.days = days
        self.users: dict[object, tuple[str, str]] = {}
        self.n = 0

    def _who(self, ev: dict[str, Any]) -> tuple[str, str]:
        key = ev.get("user")
        if key is not None and key in self.users:
            return self.users[key]
        self.n += 1
        prefix = COUNTRIES.get(ev.get("country", ""), NO_COUNTRY)
        who = (f"{prefix}.{self.n // 250}.{self.n % 250 + 1}", _ua(ev))
        if key is not None:
            self.users[key] = who
        return who

    def item(self, ev: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        ip, ua = self._who(ev)
        ts = datetime.fromisoformat(shift(ev.get("ts", BASE_TS), self.days)).replace(tzinfo=UTC)
        host = ev.get("hostname", "localhost")
        item: dict[str, Any] = {
            "siteId": self.site,
            "eventType": ev.get("name", "pageview"),
            "url": f"https://{host}{ev.get('path', '/')}",
            "timestamp": ts.isoformat(),
            "eventId": str(uuid.uuid4()),
            "screenWidth": 390 if ev.get("screen") == "Mobile" else 1920,
        }
        if "source" in ev:
            item["referrer"] = SOURCES[ev["source"]]
        if "referrer" in ev:
            item["referrer"] = ev["referrer"]
        for k in UTM:
            if k in ev:
                item[k] = ev[k]
        if "props" in ev:
            item["props"] = ev["props"]
        if "revenue" in ev:
            item["revenue"] = ev["revenue"]
        # An engagement event's scroll depth (%) and engagement time (ms).
        if "scroll_depth" in ev:
            item["scrollDepth"] = ev["scroll_depth"]
        if "engagement_time" in ev:
            item["engagementTime"] = ev["engagement_time"]
        return item, {"User-Agent": ua, "X-Forwarded-For": ip}
