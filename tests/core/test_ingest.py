from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyticsd.core.ingest import (
    MAX_EVENT_TYPE,
    MAX_PATH,
    MAX_PROP_VALUE,
    MAX_STR,
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
        ({"revenue": {"amount": -1, "currency": "EUR"}}, "revenue.amount"),
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
        (b'{"siteId": "s", "eventType": "pageview", "path": "/", "x": "\xff"}', "UTF-8"),
        (b'{"siteId": "s", "eventType": "pageview", "path": "/", "\xc3": 1}', "UTF-8"),
        (b'{"siteId": "s", "eventType": "pageview", "path": "/", "x": "\xed\xa0\x80"}', "UTF-8"),
    ],
)
def test_decode_body_errors(body: bytes, fragment: str) -> None:
    with pytest.raises(BodyError, match=fragment):
        decode_body(body)


# Hostile values: (fields replaced in BASE, the start of the one message).
HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({"siteId": None}, "siteId must be a string, not null"),
    ({"eventType": None}, "eventType must be a string, not null"),
    ({"path": None}, "path must be a string, not null"),
    ({"path": "/", "url": None}, "url must be a string, not null"),
    ({"eventType": " "}, "eventType must not be blank"),
    ({"eventType": "\u2003 "}, "eventType must not be blank"),
    ({"siteId": "  "}, "siteId must not be blank"),
    ({"props": {"": 1}}, "props keys must not be blank"),
    ({"props": {" ": "x"}}, "props keys must not be blank"),
    ({"props": {"a": None}}, "props.a must be a string, number or boolean"),
    ({"path": "/a\r\nb"}, "path must not contain control characters"),
    ({"path": "/a\x7f"}, "path must not contain control characters"),
    ({"url": "https://x.example/a\nb"}, "url must not contain control characters"),
    ({"url": "https://x\r.example/"}, "url must not contain control characters"),
    ({"eventType": "Sign\rup"}, "eventType must not contain control characters"),
    ({"eventType": "a\x00"}, "eventType must not contain control characters"),
    ({"referrer": "https://r.example/\n"}, "referrer must not contain control characters"),
    ({"referrer": "\x1b[31m"}, "referrer must not contain control characters"),
    ({"sessionId": "s\n"}, "sessionId must not contain control characters"),
    ({"userId": "u\x01"}, "userId must not contain control characters"),
    ({"utm_source": "a\tb"}, "utm_source must not contain control characters"),
    ({"props": {"a\nb": 1}}, "props key 'a\\nb' must not contain control characters"),
    ({"props": {"a": "x\r\ny"}}, "props.a must not contain control characters"),
    ({"props": {"a": "\x7f"}}, "props.a must not contain control characters"),
    ({"revenue": {"amount": -0.01, "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": "-5", "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": "NaN", "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": "Infinity", "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": "-Infinity", "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": None, "currency": "EUR"}}, "revenue.amount"),
]


@pytest.mark.parametrize(("fields", "message"), HOSTILE, ids=[m for _, m in HOSTILE])
def test_hostile_values_are_refused_by_name(fields: dict[str, Any], message: str) -> None:
    msgs = errors({**BASE, **fields})
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith(message), msgs


# Plausible's format: (body, the start of a message). Its short keys name
# our fields in the messages.
PLAUSIBLE_HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({"n": None, "u": "https://x.example/", "d": "s"}, "eventType must be a string, not null"),
    ({"n": "pageview", "u": None, "d": "s"}, "url must be a string, not null"),
    ({"n": "pageview", "u": "https://x.example/", "d": None}, "siteId must be a string, not null"),
    ({"n": " ", "u": "https://x.example/", "d": "s"}, "eventType must not be blank"),
    ({"n": "a\nb", "u": "https://x.example/", "d": "s"}, "eventType must not contain control"),
    ({"n": "pageview", "u": "https://x.example/\r", "d": "s"}, "url must not contain control"),
    ({"n": "pageview", "u": "https://x.example/", "d": "s", "r": "\n"}, "referrer must not"),
    ({"n": "pageview", "u": "https://x.example/", "d": "s", "p": {"a": "\n"}}, "props.a must"),
    ({"n": "pageview", "u": "https://x.example/", "d": "s", "p": '{" ": 1}'}, "props keys"),
    (
        {"n": "Buy", "u": "https://x.example/", "d": "s", "$": {"amount": -3, "currency": "EUR"}},
        "revenue.amount",
    ),
]


@pytest.mark.parametrize(
    ("obj", "message"), PLAUSIBLE_HOSTILE, ids=[m for _, m in PLAUSIBLE_HOSTILE]
)
def test_plausible_hostile_values_are_refused_by_name(obj: dict[str, Any], message: str) -> None:
    msgs = errors(obj)
    assert any(m.startswith(message) for m in msgs), msgs


# Optional fields given as null are "not given": these stay accepted.
NULL_IS_ABSENT = [
    "referrer",
    "timestamp",
    "eventId",
    "sessionId",
    "userId",
    "screenWidth",
    "props",
    "revenue",
    *[f"utm_{k}" for k in ("source", "medium", "campaign", "content", "term")],
]


@pytest.mark.parametrize("key", NULL_IS_ABSENT)
def test_null_for_an_optional_field_is_absence(key: str) -> None:
    assert ok(**{key: None}) == validate_event(BASE, NOW)


@pytest.mark.parametrize("key", ["r", "w", "p", "m", "$"])
def test_plausible_null_for_an_optional_field_is_absence(key: str) -> None:
    plain = {"n": "pageview", "u": "https://x.example/a", "d": "s"}
    assert validate_event({**plain, key: None}, NOW) == validate_event(plain, NOW)


def test_url_query_values_with_control_characters_give_no_utm() -> None:
    ev = ok(url="https://x.example/?utm_source=a%0Ab&utm_medium=mail")
    assert ev.utm == {"utm_medium": "mail"}


# A small grammar of what is accepted, and of one hostile value per field.
_word = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)
_name = _word.filter(lambda s: s.strip() != "")
_VALID: dict[str, st.SearchStrategy[Any]] = {
    "eventType": st.one_of(st.sampled_from(["pageview", "page_view", "Signup"]), _name).map(
        lambda s: s[:MAX_EVENT_TYPE]
    ),
    "path": _word.map(lambda s: ("/" + s)[:MAX_PATH]),
    "referrer": st.one_of(st.none(), _word, st.just("https://news.example/item?id=1")),
    "sessionId": st.one_of(st.none(), _word),
    "userId": st.one_of(st.none(), _word),
    "utm_source": st.one_of(st.none(), _word.map(lambda s: s[:MAX_STR])),
    "props": st.dictionaries(
        _name.map(lambda s: s[:MAX_STR]),
        st.one_of(_word.map(lambda s: s[:MAX_PROP_VALUE]), st.booleans(), st.integers(-9, 9)),
        max_size=3,
    ),
    "revenue": st.fixed_dictionaries(
        {
            "amount": st.one_of(
                st.decimals(0, 10**6, places=2).map(str), st.integers(0, 10**6), st.just(0.0)
            ),
            "currency": st.sampled_from(["EUR", "USD"]),
        }
    ),
}
_control = st.sampled_from(["\x00", "\r", "\n", "\r\n", "\t", "\x1b", "\x1f", "\x7f"])
_blank = st.sampled_from([" ", "   ", "\t", "\u00a0", "\u3000"])
_with_control = st.tuples(_word, _control, _word).map("".join)
# field -> (hostile value, the field named in the message)
_HOSTILE: dict[str, st.SearchStrategy[tuple[Any, str]]] = {
    "siteId": st.one_of(st.none(), _blank, _with_control).map(lambda v: (v, "siteId")),
    "eventType": st.one_of(st.none(), _blank, _with_control).map(lambda v: (v, "eventType")),
    "path": st.one_of(st.none(), _with_control).map(lambda v: (v, "path")),
    "url": st.one_of(st.none(), _with_control).map(lambda v: (v, "url")),
    "referrer": _with_control.map(lambda v: (v, "referrer")),
    "sessionId": _with_control.map(lambda v: (v, "sessionId")),
    "userId": _with_control.map(lambda v: (v, "userId")),
    "utm_source": _with_control.map(lambda v: (v, "utm_source")),
    "props": st.one_of(
        st.one_of(_blank, _with_control).map(lambda k: ({k: 1}, "props key")),
        _with_control.map(lambda v: ({"k": v}, "props.k")),
        st.just(({"k": None}, "props.k")),
    ),
    "revenue": st.one_of(
        st.decimals(max_value="-0.01", allow_nan=False, allow_infinity=False, places=2).map(str),
        st.floats(max_value=-1e-9, allow_infinity=False, allow_nan=False),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "sNaN", None]),
    ).map(lambda a: ({"amount": a, "currency": "EUR"}, "revenue.amount")),
}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"siteId": "s"}
    for key in draw(st.lists(st.sampled_from(sorted(_VALID)), unique=True)):
        obj[key] = draw(_VALID[key])
    obj.setdefault("eventType", "pageview")
    if "path" not in obj:
        obj["url"] = "https://x.example/" + draw(_word)
    return obj


@settings(max_examples=400, deadline=None)
@given(valid_events())
def test_the_grammar_of_valid_events_is_accepted(obj: dict[str, Any]) -> None:
    assert isinstance(validate_event(obj, NOW), IncomingEvent), obj
    body = msgspec.json.encode(obj)
    assert isinstance(validate_event(decode_body(body), NOW), IncomingEvent)


@settings(max_examples=600, deadline=None)
@given(valid_events(), st.data())
def test_one_hostile_value_is_refused_naming_its_field(obj: dict[str, Any], data: Any) -> None:
    key = data.draw(st.sampled_from(sorted(_HOSTILE)))
    value, named = data.draw(_HOSTILE[key])
    obj = {**obj, key: value}
    if key == "url":
        obj.pop("path", None)  # else path wins and url is only checked
    msgs = errors(obj)
    assert msgs, obj
    assert all(m.startswith(named) for m in msgs), (obj, msgs)
