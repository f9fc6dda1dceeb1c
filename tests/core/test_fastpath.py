"""The msgspec fast path must agree with the validator wherever it answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyticsd.core.errors import BodyError
from analyticsd.core.fastpath import fast_batch, fast_event
from analyticsd.core.ingest import IncomingEvent, decode_body, validate_event

NOW = int(datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp() * 1000)

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "a\x00b", "x" * 300, "y" * 3000]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Strings at and just past each length limit (64, 256, 2048), and a NUL.
edge = st.sampled_from(
    ["", "a\x00b", "e" * 64, "f" * 65, "x" * 256, "x" * 257, "y" * 2048, "y" * 2049]
)
# Hostile strings: blank, control characters (escaped in JSON, DEL raw), and
# harmless \u00XX escapes that only look like one.
hostile = st.sampled_from(
    [" ", "\t", "\u3000", "/a\r\nb", "/a\nb", "a\x1fb", "a\x7fb", "a\x08", "a\x0c", "é", "\u00a0"]
)
anything = st.one_of(edge, hostile, anything)
field_values: dict[str, st.SearchStrategy[Any]] = {
    "siteId": st.one_of(st.sampled_from(["s", "test_site", ""]), anything),
    "eventType": st.one_of(st.sampled_from(["pageview", "page_view", "Signup"]), anything),
    "path": st.one_of(st.sampled_from(["/", "/a/b/", "a//b?x=1#f", "/" + "p" * 2100]), anything),
    "url": st.one_of(
        st.sampled_from(["https://Shop.Example/x?y=1", "http://[bad", "/rel"]), anything
    ),
    "referrer": st.one_of(st.sampled_from(["https://news.example/", ""]), anything),
    "timestamp": st.one_of(
        st.sampled_from(
            [
                "2026-11-23T11:00:00Z",
                "2026-11-23T12:00:00",
                "2026-11-23T13:00:00Z",
                "2026-11-01T00:00:00Z",
                "not a date",
                "2026-11-23T11:59:00.123+01:00",
            ]
        ),
        anything,
    ),
    "eventId": st.one_of(
        st.sampled_from(
            [
                "550e8400-e29b-41d4-a716-446655440099",
                "550E8400E29B41D4A716446655440099",
                "{550e8400-e29b-41d4-a716-446655440099}",
                "123",
            ]
        ),
        st.uuids().map(str),
        anything,
    ),
    "props": st.one_of(
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(
                st.text(max_size=5),
                st.integers(min_value=-(2**65), max_value=2**65),
                st.booleans(),
                st.floats(allow_nan=False),
                st.none(),
                st.lists(st.integers(), max_size=1),
            ),
            max_size=4,
        ),
        anything,
    ),
    "revenue": st.one_of(
        st.fixed_dictionaries(
            {
                "amount": st.one_of(
                    st.integers(),
                    st.floats(allow_nan=False),
                    st.sampled_from(["19.90", "abc", "1e13", "-1", "-0", "NaN", "-Infinity"]),
                    st.booleans(),
                ),
                "currency": st.sampled_from(["EUR", "eur", "EURO", ""]),
            }
        ),
        anything,
    ),
    "sessionId": anything,
    "userId": anything,
    "screenWidth": st.one_of(st.sampled_from([-1, 0, 1280, 100_000, 100_001, 2**64]), anything),
    "utm_source": anything,
    "utm_campaign": anything,
    "unknownField": anything,
}
ABSENT = object()


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with up to three fields replaced by arbitrary values or removed."""
    obj: dict[str, Any] = {"siteId": "s", "eventType": "pageview", "path": "/a"}
    for key in draw(st.lists(st.sampled_from(sorted(field_values)), max_size=3, unique=True)):
        value = draw(st.one_of(st.just(ABSENT), field_values[key]))
        if value is ABSENT:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


@settings(max_examples=1500, deadline=None)
@given(st.one_of(events(), st.fixed_dictionaries({}, optional=field_values)))
def test_fast_path_answers_only_what_the_validator_accepts_and_identically(obj: Any) -> None:
    body = msgspec.json.encode(obj)
    fast = fast_event(body, NOW)
    slow = validate_event(msgspec.json.decode(body), NOW)
    if fast is not None:
        assert slow == fast
    batch = fast_batch(msgspec.json.encode({"events": [obj, obj]}), NOW)
    if batch is not None:
        assert batch == [slow, slow]


GOOD: list[dict[str, Any]] = [
    {"siteId": "s", "eventType": "pageview", "path": "/a"},
    {"siteId": "s", "eventType": "page_view", "url": "https://x.example/b/?q=1"},
    {
        "siteId": "s",
        "eventType": "Signup",
        "path": "/",
        "props": {"plan": "pro", "n": 2},
        "revenue": {"amount": "9.90", "currency": "EUR"},
        "eventId": "550e8400-e29b-41d4-a716-446655440099",
        "timestamp": "2026-11-23T11:00:00Z",
        "utm_source": "news",
        "screenWidth": 1280,
        "referrer": "https://r.example/",
    },
]


@pytest.mark.parametrize("obj", GOOD)
def test_common_events_take_the_fast_path(obj: dict[str, Any]) -> None:
    fast = fast_event(msgspec.json.encode(obj), NOW)
    assert isinstance(fast, IncomingEvent)
    assert fast == validate_event(obj, NOW)


@pytest.mark.parametrize(
    "body",
    [
        b'{"siteId": "s", "eventType": "pageview", "path": "/a\\u0000"}',
        b'{"siteId": "s", "eventType": "pageview"}',
        b"{",
        b'{"siteId": 5}',
        b'{"events": []}',
        b"[1]",
        b'{"siteId": "s", "eventType": "pageview", "path": null}',
        b'{"siteId": "s", "eventType": "pageview", "path": "/", "url": null}',
        b'{"siteId": "s", "eventType": " ", "path": "/"}',
        b'{"siteId": "s", "eventType": "pageview", "path": "/a\\r\\nb"}',
        b'{"siteId": "s", "eventType": "pageview", "path": "/a\x7f"}',
        b'{"siteId": "s", "eventType": "pageview", "path": "/", "x": "\xff"}',
        b'{"siteId": "s", "eventType": "pageview", "path": "/", "\xc3(": 1}',
    ],
)
def test_anything_unusual_goes_to_the_validator(body: bytes) -> None:
    assert fast_event(body, NOW) is None
    assert fast_batch(body, NOW) is None


LIMITS = {
    "siteId": 256,
    "eventType": 64,
    "path": 2048,
    "url": 2048,
    "referrer": 2048,
    "sessionId": 256,
    "userId": 256,
    "utm_source": 256,
    "utm_medium": 256,
    "utm_campaign": 256,
    "utm_content": 256,
    "utm_term": 256,
}


@pytest.mark.parametrize(("field", "limit"), sorted(LIMITS.items()))
def test_length_limits_are_the_validators(field: str, limit: int) -> None:
    for n, accepted in ((limit, True), (limit + 1, False)):
        obj = {"siteId": "s", "eventType": "pageview", "path": "/a", field: "/" + "a" * (n - 1)}
        body = msgspec.json.encode(obj)
        slow = validate_event(obj, NOW)
        assert isinstance(slow, IncomingEvent) is accepted
        fast = fast_event(body, NOW)
        assert fast == (slow if accepted else None)


@settings(max_examples=300, deadline=None)
@given(events(), st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
def test_a_byte_that_is_not_utf8_is_refused_by_both_paths(obj: Any, bad: bytes) -> None:
    """Wherever it is: here in an unknown key's value, which the typed decoder skips."""
    body = msgspec.json.encode({**obj, "unknownField": "x"}).replace(b'"x"', b'"' + bad + b'"', 1)
    assert fast_event(body, NOW) is None
    with pytest.raises(BodyError, match="UTF-8"):
        decode_body(body)
    batch = msgspec.json.encode({"events": [obj, {**obj, "zz": "x"}]}).replace(
        b'"x"', b'"' + bad + b'"'
    )
    assert fast_batch(batch, NOW) is None
