"""Plausible's event format: its semantics where they are more than a rename."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyticsd.core.ingest import MAX_ENGAGED_MS, IncomingEvent, validate_event

NOW = 1_780_000_000_000
BASE = {"n": "pageview", "u": "https://example.com/shop/", "d": "example.com"}


def ok(body: dict[str, Any]) -> IncomingEvent:
    ev = validate_event(body, NOW)
    assert isinstance(ev, IncomingEvent), ev
    return ev


@pytest.mark.parametrize("revenue", [{}, json.dumps({}), None])
def test_an_empty_revenue_is_no_revenue(revenue: Any) -> None:
    ev = ok({**BASE, "n": "Signup", "$": revenue})
    assert (ev.revenue_amount, ev.revenue_currency) == (None, None)


def test_a_revenue_as_json_text_is_read() -> None:
    ev = ok({**BASE, "n": "Buy", "$": json.dumps({"amount": "9.90", "currency": "EUR"})})
    assert (ev.revenue_amount, ev.revenue_currency) == ("9.90", "EUR")


@pytest.mark.parametrize(
    ("url", "h", "path"),
    [
        ("https://example.com/#/cart", 1, "/#/cart"),
        ("https://example.com/app/#/cart?step=2", 1, "/app#/cart?step=2"),
        ("https://example.com/app/#/cart", 0, "/app"),
        ("https://example.com/app/#/cart", None, "/app"),
        ("https://example.com/app?x=1", 1, "/app"),  # no fragment: the path alone
    ],
)
def test_hash_mode_keeps_the_fragment(url: str, h: int | None, path: str) -> None:
    body: dict[str, Any] = {**BASE, "u": url}
    if h is not None:
        body["h"] = h
    assert ok(body).path == path


def test_hash_mode_is_plausibles_flag_only() -> None:
    native = {"siteId": "s", "eventType": "pageview", "url": "https://e.com/#/a", "hashMode": True}
    assert ok(native).path == "/"


def test_props_plausible_drops_are_dropped() -> None:
    ev = ok({**BASE, "p": {"a": "", "b": None, "c": [1], "d": {"x": 1}, "e": "kept", "f": 2}})
    assert ev.props == {"e": "kept", "f": 2}


def test_engagement_reads_scroll_depth_and_engaged_time() -> None:
    ev = ok({**BASE, "n": "engagement", "sd": 64, "e": 12_345})
    assert (ev.event_type, ev.scroll_depth, ev.engaged_ms) == ("engagement", 64, 12_345)
    big = ok({**BASE, "n": "engagement", "sd": 130, "e": 10**9})
    assert (big.scroll_depth, big.engaged_ms) == (100, MAX_ENGAGED_MS)
    other = ok({**BASE, "n": "Signup", "sd": 64, "e": 5})  # only engagement carries them
    assert (other.scroll_depth, other.engaged_ms) == (None, None)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"sd": -1}, "scrollDepth (Plausible: sd)"),
        ({"sd": "50"}, "scrollDepth (Plausible: sd)"),
        ({"e": True}, "engagementTime (Plausible: e, in ms)"),
        ({"e": 1.5}, "engagementTime (Plausible: e, in ms)"),
    ],
)
def test_bad_engagement_fields_are_refused_by_name(extra: dict[str, Any], says: str) -> None:
    problems = validate_event({**BASE, "n": "engagement", **extra}, NOW)
    assert isinstance(problems, list)
    assert any(says in p for p in problems), problems


def test_domain_is_trimmed_and_www_is_kept_for_the_site_lookup() -> None:
    assert ok({**BASE, "d": " www.example.com "}).site_id == "www.example.com"


def test_without_a_domain_the_site_is_the_urls_host() -> None:
    ev = ok({"n": "pageview", "u": "https://www.example.com/a"})
    assert (ev.site_id, ev.path) == ("www.example.com", "/a")  # www. goes at the site lookup
    problems = validate_event({"n": "pageview", "u": "/relative"}, NOW)
    assert problems == ["siteId should not be empty"]
