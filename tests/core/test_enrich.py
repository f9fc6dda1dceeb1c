"""Goals and the site rules of enrichment."""

from __future__ import annotations

import msgspec
import pytest

from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import decode_rules, encode_rules, prepare, rule_set, rules_for
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


PROP_RULES = rules_for(
    [
        SiteConfig(
            id="shop.example",
            goals=(
                GoalConfig(event="Purchase", name="Pro purchase", props={"plan": "pro"}),
                GoalConfig(event="Purchase"),
                GoalConfig(event="Order", name="Two", props={"qty": "2", "gift": "true"}),
                GoalConfig(page="/pricing*", props={"ref": "ad"}),
                GoalConfig(event="purchase", props={"plan": "pro"}),
            ),
        )
    ]
)["shop.example"]


def prop_ev(kind: str, props: dict[str, object], path: str = "/") -> IncomingEvent:
    e = validate_event(
        {"siteId": "shop.example", "eventType": kind, "path": path, "props": props}, 0
    )
    assert isinstance(e, IncomingEvent), e
    return e


@pytest.mark.parametrize(
    ("kind", "path", "props", "goals"),
    [
        ("Purchase", "/", {"plan": "pro"}, ("Pro purchase", "Purchase")),
        ("Purchase", "/", {"plan": "pro", "other": "x"}, ("Pro purchase", "Purchase")),
        ("Purchase", "/", {"plan": "free"}, ("Purchase",)),
        ("Purchase", "/", {"plan": "Pro"}, ("Purchase",)),  # values are case-sensitive
        ("Purchase", "/", {}, ("Purchase",)),
        # All conditions must hold; numbers and booleans match as their text.
        ("Order", "/", {"qty": 2, "gift": True}, ("Two",)),
        ("Order", "/", {"qty": "2", "gift": "true"}, ("Two",)),
        ("Order", "/", {"qty": 2}, ()),
        ("Order", "/", {"qty": 3, "gift": True}, ()),
        ("pageview", "/pricing/team", {"ref": "ad"}, ("Visit /pricing*",)),
        ("pageview", "/pricing", {"ref": "mail"}, ()),
        ("Signup", "/pricing", {"ref": "ad"}, ()),  # a page goal takes page views only
        # The configured `purchase` goal owns the built-in conversion's name.
        ("purchase", "/", {"plan": "pro"}, ("purchase",)),
        ("purchase", "/", {"plan": "free"}, ()),
        ("conversion", "/", {}, ("conversion",)),
    ],
)
def test_goals_with_property_conditions(
    kind: str, path: str, props: dict[str, object], goals: tuple[str, ...]
) -> None:
    assert PROP_RULES.goals_of(prop_ev(kind, props, path)) == goals


def test_a_rule_set_stored_before_goal_props_decodes_with_none() -> None:
    """Rule sets in a spool written before goals had props lack the field."""
    old = msgspec.msgpack.encode([[["shop.example", ["shop.example"], [["Signup", "Signup", ""]]]]])
    rules = decode_rules(old)
    assert rules.sites[0].goals[0].props == ()
    assert prepare(rules)["shop.example"].goals_of(ev("Signup", "/")) == ("Signup",)


def test_props_change_the_stored_rule_set() -> None:
    """A reload that only changes a goal's props stores a new rule set."""
    site = SiteConfig(id="a.example", goals=(GoalConfig(event="Buy", props={"plan": "pro"}),))
    plain = SiteConfig(id="a.example", goals=(GoalConfig(event="Buy"),))
    assert encode_rules(rule_set([site])) != encode_rules(rule_set([plain]))
    assert decode_rules(encode_rules(rule_set([site]))).sites[0].goals[0].props == (
        ("plan", "pro"),
    )
