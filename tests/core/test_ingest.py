from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from analyticsd.core.ingest import (
    BodyError,
    IncomingEvent,
    decode_body,
    normalise_event_type,
    normalise_path,
    validate_event,
)

NOW = int(datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp() * 1000)
BASE: dict[str, Any] = {"siteId": "s", "eventType": "pageview", "path": "/"}


def ok(**fields: Any) -> IncomingEvent:
    result = validate_event({**BASE, **fields}, NOW)
    assert isinstance(result, IncomingEvent), result
    return result


def errors(obj: Any) -> list[str]:
    result = validate_event(obj, NOW)
    assert isinstance(result, list), result
    return result


@pytest.mark.parametrize("name", ["pageview", "page_view", "pageView", "page-view"])
def test_page_view_aliases(name: str) -> None:
    assert normalise_event_type(name) == "pageview"
    assert ok(eventType=name).event_type == "pageview"


def test_custom_event_names_keep_their_case() -> None:
    assert ok(eventType="Signup").event_type == "Signup"


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/", "/"),
        ("/a/", "/a"),
        ("a", "/a"),
        ("//a///b", "/a/b"),
        ("/a?x=1", "/a"),
        ("/a#frag", "/a"),
        ("", "/"),
        ("/a/b/", "/a/b"),
    ],
)
def test_path_normalisation(raw: str, path: str) -> None:
    assert normalise_path(raw) == path


def test_url_gives_path_and_hostname() -> None:
    ev = validate_event(
        {"siteId": "s", "eventType": "pageview", "url": "https://Shop.Example:8080/cart/?id=3"}, NOW
    )
    assert isinstance(ev, IncomingEvent)
    assert ev.path == "/cart"
    assert ev.hostname == "shop.example"


def test_every_problem_is_reported_at_once() -> None:
    msgs = errors(
        {
            "siteId": 1,
            "eventType": "",
            "screenWidth": -1,
            "props": [],
            "timestamp": "nope",
            "eventId": "x",
        }
    )
    assert "siteId must be a string" in msgs
    assert "eventType should not be empty" in msgs
    assert "path or url is required" in msgs
    assert "screenWidth must be an integer between 0 and 100000" in msgs
    assert "props must be an object" in msgs
    assert "timestamp must be a valid ISO 8601 date string" in msgs
    assert "eventId must be a UUID" in msgs


def test_timestamp_window() -> None:
    assert ok(timestamp="2026-11-23T11:00:00Z").timestamp_ms == NOW - 3_600_000
    assert ok(timestamp="2026-11-23T12:10:00+00:00").timestamp_ms == NOW + 600_000
    assert ok(timestamp="2026-11-23T12:00:00").timestamp_ms == NOW  # naive = UTC
    assert ok().timestamp_ms == NOW
    assert "in the future" in errors({**BASE, "timestamp": "2026-11-23T12:16:00Z"})[0]
    assert "in the past" in errors({**BASE, "timestamp": "2026-11-10T12:00:00Z"})[0]


def test_event_id_is_canonicalised() -> None:
    assert ok(eventId="550E8400-E29B-41D4-A716-446655440099").event_id == (
        "550e8400-e29b-41d4-a716-446655440099"
    )


def test_props_revenue_utm() -> None:
    ev = ok(
        props={"plan": "pro", "n": 3, "x": 1.5, "b": True},
        revenue={"amount": "19.90", "currency": "EUR"},
        utm_source="news",
        utm_campaign="w48",
        screenWidth=1280,
        userId="u1",
        sessionId="s1",
    )
    assert ev.props == {"plan": "pro", "n": 3, "x": 1.5, "b": True}
    assert (ev.revenue_amount, ev.revenue_currency) == ("19.90", "EUR")
    assert ev.utm == {"utm_source": "news", "utm_campaign": "w48"}
    assert (ev.screen_width, ev.user_id, ev.session_id) == (1280, "u1", "s1")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"props": {"a": {"b": 1}}}, "props are flat"),
        ({"props": {"a": None}}, "props are flat"),
        ({"props": {f"k{i}": i for i in range(31)}}, "at most 30 keys"),
        ({"props": {"n": 2**70}}, "out of range"),
        ({"revenue": {"amount": "abc", "currency": "EUR"}}, "revenue.amount"),
        ({"revenue": {"amount": True, "currency": "EUR"}}, "revenue.amount"),
        ({"revenue": {"amount": 1, "currency": "eur"}}, "revenue.currency"),
        ({"revenue": 5}, "revenue must be an object"),
        ({"screenWidth": True}, "screenWidth"),
        ({"path": "/a\x00"}, "NUL"),
        ({"path": "/" + "a" * 3000}, "at most 2048"),
        ({"referrer": 7}, "referrer must be a string"),
        ({"utm_source": ["x"]}, "utm_source must be a string"),
    ],
)
def test_field_errors(fields: dict[str, Any], fragment: str) -> None:
    msgs = errors({**BASE, **fields})
    assert any(fragment in m for m in msgs), msgs


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b'"\xff"', "not valid UTF-8"),
        (b"\xff", "not valid UTF-8"),
        (b"[" * 50000 + b"]" * 50000, "nested too deeply"),
        (b"1e999", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_decode_body_errors(body: bytes, fragment: str) -> None:
    with pytest.raises(BodyError, match=fragment):
        decode_body(body)
