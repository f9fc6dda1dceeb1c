"""Goals and the site rules of enrichment."""

from __future__ import annotations

import pytest

from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import rules_for
from analyticsd.core.ingest import IncomingEvent, validate_event

RULES = rules_for(
    [
        SiteConfig(
            id="shop.example",
            origins=("https://www.shop.example", "https://shop.example:8443"),
            goals=(
                GoalConfig(event="Signup"),
                GoalConfig(page="/checkout/thank-you*", name="Order"),
                GoalConfig(page="/docs/*/install"),
            ),
        )
    ]
)["shop.example"]


def ev(kind: str, path: str) -> IncomingEvent:
    e = validate_event({"siteId": "shop.example", "eventType": kind, "path": path}, 0)
    assert isinstance(e, IncomingEvent)
    return e


@pytest.mark.parametrize(
    ("kind", "path", "goals"),
    [
        ("Signup", "/", ("Signup",)),
        ("signup", "/", ()),  # event names are case-sensitive, as sent
        ("pageview", "/checkout/thank-you", ("Order",)),
        ("pageview", "/checkout/thank-you/123", ("Order",)),
        ("pageview", "/checkout", ()),
        ("pageview", "/docs/v2/install", ("Visit /docs/*/install",)),
        ("pageview", "/docs/v2/a/install", ("Visit /docs/*/install",)),  # * spans slashes
        ("pageview", "/docs/install", ()),
        ("purchase", "/checkout", ("purchase",)),  # always a conversion
        ("conversion", "/", ("conversion",)),
        ("Outbound Link: Click", "/", ()),
        ("Signup", "/checkout/thank-you", ("Signup",)),  # page goals match page views only
    ],
)
def test_goals(kind: str, path: str, goals: tuple[str, ...]) -> None:
    assert RULES.goals_of(ev(kind, path)) == goals


def test_own_hosts_come_from_the_id_and_origins() -> None:
    assert RULES.own_hosts == frozenset({"shop.example"})
