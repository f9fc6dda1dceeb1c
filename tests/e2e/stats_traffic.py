"""The traffic of the Stats API end-to-end test: two days of generated visits
(devices, landing kinds, countries, signups, purchases, user ids), the
configuration that goes with it, and sending it to a daemon. Every expected
number in the tests is counted from `plan`'s output."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests import web
from tests.helpers import TEST_SITE, Daemon

TOKEN = "stats-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UAS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    ),
}
CLIENT = {
    "desktop": {
        "browser": "Firefox",
        "browser_version": "122.0",
        "os": "Windows",
        "os_version": "10",
    },
    "mobile": {"browser": "Safari", "browser_version": "17.2", "os": "iOS", "os_version": "17.2"},
}
# landing fields → (source, referrer, channel, utm_source, utm_medium, utm_campaign)
LANDINGS: list[tuple[dict[str, str], tuple[str, str, str, str, str, str]]] = [
    ({}, ("Direct / None", "", "Direct", "", "", "")),
    (
        {"referrer": "https://www.google.com/search?q=x"},
        ("Google", "google.com/search", "Organic Search", "", "", ""),
    ),
    ({"referrer": "https://t.co/abc"}, ("Twitter", "t.co/abc", "Organic Social", "", "", "")),
    (
        {
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "spring",
            "utm_content": "header",
            "utm_term": "analytics",
        },
        ("newsletter", "", "Email", "newsletter", "email", "spring"),
    ),
]
PAGES = ["/", "/pricing", "/blog/a", "/blog/b", "/docs"]
GEO = {"203.0.113": ("DE", "Berlin", "Berlin"), "198.51.100": ("FR", "Île-de-France", "Paris")}
EXTRA = f"""
[api]
tokens = ["{TOKEN}"]

[[metrics]]
name = "signups"
type = "count"
event = "Signup"

[[metrics]]
name = "pro_signups"
type = "count"
event = "Signup"
props = {{ plan = "pro" }}

[[metrics]]
name = "revenue_sum"
type = "sum"
field = "revenue"

[[metrics]]
name = "avg_revenue"
type = "avg"
field = "revenue"

[[metrics]]
name = "users"
type = "distinct"
of = "user"

[[metrics]]
name = "signup_rate"
type = "ratio"
numerator = "signups"
denominator = "visitors"
"""
SITE_EXTRA = """
[[sites.goals]]
event = "Signup"

[[sites.funnels]]
name = "pricing-signup"
steps = [{page = "/"}, {page = "/pricing"}, {event = "Signup"}]
window_s = 3600
"""


@dataclass
class Ev:
    ts: int
    name: str
    path: str
    props: dict[str, str] = field(default_factory=dict)
    revenue: str | None = None


@dataclass
class Visit:
    day: int  # 0 or 1: the day before yesterday, yesterday
    k: int  # visitor number within the day (an address and a device)
    landing: int
    user: str | None
    events: list[Ev] = field(default_factory=list)

    @property
    def device(self) -> str:
        return "mobile" if self.k % 3 == 0 else "desktop"

    @property
    def ip(self) -> str:
        return f"{'203.0.113' if self.k % 2 else '198.51.100'}.{self.k + 1}"

    @property
    def geo(self) -> tuple[str, str, str]:
        return GEO[self.ip.rsplit(".", 1)[0]]

    @property
    def host(self) -> str:
        return "www.test.example" if self.k % 4 == 1 else "test.example"

    @property
    def language(self) -> str:
        return "de-DE" if self.k % 2 else "fr-FR"

    @property
    def screen(self) -> str:
        return "Desktop" if self.device == "desktop" else "Mobile"

    @property
    def who(self) -> tuple[int, int]:
        return (self.day, self.k)  # visitor ids rotate daily: one visitor per day

    def goals(self, ev: Ev) -> list[str]:
        return ["Signup"] if ev.name == "Signup" else ["purchase"] if ev.name == "purchase" else []

    @property
    def pageviews(self) -> list[Ev]:
        return [e for e in self.events if e.name == "pageview"]

    @property
    def conversions(self) -> int:
        return sum(1 for e in self.events if self.goals(e))

    @property
    def bounce(self) -> bool:
        return len(self.pageviews) == 1 and self.conversions == 0

    @property
    def duration_ms(self) -> int:
        return self.events[-1].ts - self.events[0].ts


def plan(day0_ms: int) -> list[Visit]:
    rng = random.Random(5)
    visits: list[Visit] = []
    for day in (0, 1):
        for k in range(24):
            user = f"user{k}" if k < 12 and (day == 0 or k % 2 == 0) else None
            t = day0_ms + day * 86_400_000 + 8 * 3_600_000 + k * 600_000
            for n in range(2 if k % 5 == 0 else 1):
                v = Visit(day, k, k % 4, user)
                for j in range(rng.choice([1, 2, 3])):
                    path = "/" if j == 0 and n == 0 else rng.choice(PAGES)
                    v.events.append(Ev(t, "pageview", path))
                    t += 30_000
                if n == 0 and k % 3 == 1:
                    v.events.append(
                        Ev(t, "Signup", v.events[-1].path, {"plan": "pro" if k % 2 else "free"})
                    )
                    t += 30_000
                if n == 0 and k % 6 == 1:
                    v.events.append(Ev(t, "purchase", "/checkout", revenue="10.50"))
                t += 2 * 3_600_000  # the next visit starts after a gap
                visits.append(v)
    return visits


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def send(d: Daemon, visits: list[Visit]) -> None:
    with web.Client(timeout=10) as client:
        for v in visits:
            items = []
            for i, e in enumerate(v.events):
                item: dict[str, Any] = {
                    "siteId": TEST_SITE,
                    "eventType": e.name,
                    "url": f"https://{v.host}{e.path}",
                    "screenWidth": 1920 if v.device == "desktop" else 390,
                    "timestamp": iso(e.ts),
                    "eventId": str(uuid.uuid4()),
                }
                if i == 0:
                    item.update(LANDINGS[v.landing][0])
                if e.props:
                    item["props"] = e.props
                if e.revenue:
                    item["revenue"] = {"amount": e.revenue, "currency": "EUR"}
                if v.user:
                    item["userId"] = v.user
                items.append(item)
            r = client.post(
                f"{d.url}/api/batch",
                json={"events": items},
                headers={
                    "User-Agent": UAS[v.device],
                    "X-Forwarded-For": v.ip,
                    "Accept-Language": v.language,
                },
            )
            assert r.status_code == 202, r.text
            assert not r.json()["rejected"], r.text
