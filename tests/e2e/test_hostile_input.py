"""Hostile input changes nothing: each value is a 400 naming its field, on
`/api/event` and as an item of `/api/batch`, and the spool head stays put."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon, running_daemon

GOOD: dict[str, Any] = {"siteId": TEST_SITE, "eventType": "pageview", "path": "/ok"}
PLAUSIBLE: dict[str, Any] = {"n": "pageview", "u": "https://test.example/ok", "d": TEST_SITE}


def _eur(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


# (name, the event, the start of its message, which names the field)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("null siteId", {**GOOD, "siteId": None}, "siteId must be a string, not null"),
    ("null eventType", {**GOOD, "eventType": None}, "eventType must be a string, not null"),
    ("null path", {**GOOD, "path": None}, "path must be a string, not null"),
    ("null url", {**GOOD, "url": None}, "url must be a string, not null"),
    ("blank eventType", {**GOOD, "eventType": " "}, "eventType must not be blank"),
    ("blank siteId", {**GOOD, "siteId": "  "}, "siteId must not be blank"),
    ("blank prop name", {**GOOD, "props": {" ": "x"}}, "props keys must not be blank"),
    ("empty prop name", {**GOOD, "props": {"": 1}}, "props keys must not be blank"),
    ("null prop value", {**GOOD, "props": {"plan": None}}, "props.plan must be a string"),
    ("CRLF in path", {**GOOD, "path": "/a\r\nSet-Cookie: x"}, "path must not contain control"),
    ("LF in path", {**GOOD, "path": "/a\nb"}, "path must not contain control"),
    ("NUL in path", {**GOOD, "path": "/a\x00"}, "path must not contain control"),
    ("DEL in path", {**GOOD, "path": "/a\x7f"}, "path must not contain control"),
    ("ESC in path", {**GOOD, "path": "/\x1b[2J"}, "path must not contain control"),
    ("CR in url", {**GOOD, "url": "https://test.example/\r"}, "url must not contain control"),
    ("LF in hostname", {"siteId": TEST_SITE, "eventType": "pageview", "url": "https://te\nst/"},
     "url must not contain control"),
    ("CR in event name", {**GOOD, "eventType": "Sign\rup"}, "eventType must not contain control"),
    ("TAB in event name", {**GOOD, "eventType": "a\tb"}, "eventType must not contain control"),
    ("LF in referrer", {**GOOD, "referrer": "https://r.example/\n"},
     "referrer must not contain control"),
    ("NUL in sessionId", {**GOOD, "sessionId": "s\x00"}, "sessionId must not contain control"),
    ("LF in userId", {**GOOD, "userId": "u\n"}, "userId must not contain control"),
    ("CR in utm", {**GOOD, "utm_campaign": "w\r48"}, "utm_campaign must not contain control"),
    ("LF in prop key", {**GOOD, "props": {"a\nb": 1}}, "props key 'a\\nb' must not contain"),
    ("CRLF in prop value", {**GOOD, "props": {"a": "x\r\ny"}}, "props.a must not contain"),
    ("DEL in prop value", {**GOOD, "props": {"a": "\x7f"}}, "props.a must not contain"),
    ("negative revenue", {**GOOD, "revenue": _eur(-5)}, "revenue.amount"),
    ("negative revenue text", {**GOOD, "revenue": _eur("-0.01")}, "revenue.amount"),
    ("NaN revenue", {**GOOD, "revenue": _eur("NaN")}, "revenue.amount"),
    ("infinite revenue", {**GOOD, "revenue": _eur("Infinity")}, "revenue.amount"),
    ("null revenue amount", {**GOOD, "revenue": _eur(None)}, "revenue.amount"),
    # Plausible's format: the messages name our fields.
    ("plausible null n", {**PLAUSIBLE, "n": None}, "eventType must be a string, not null"),
    ("plausible null u", {**PLAUSIBLE, "u": None}, "url must be a string, not null"),
    ("plausible null d", {**PLAUSIBLE, "d": None}, "siteId must be a string, not null"),
    ("plausible blank n", {**PLAUSIBLE, "n": "\t "}, "eventType must not"),
    ("plausible LF in u", {**PLAUSIBLE, "u": "https://test.example/\n"}, "url must not contain"),
    ("plausible LF in r", {**PLAUSIBLE, "r": "\n"}, "referrer must not contain control"),
    ("plausible CR in p", {**PLAUSIBLE, "p": {"a": "\r"}}, "props.a must not contain"),
    ("plausible p string", {**PLAUSIBLE, "p": json.dumps({" ": 1})}, "props keys must not"),
    ("plausible negative $", {**PLAUSIBLE, "n": "Buy", "$": _eur(-1)}, "revenue.amount"),
]  # fmt: skip

# A byte that is not UTF-8 is refused for the whole body, wherever it is.
BAD_UTF8: list[tuple[str, bytes]] = [
    ("in path", b'"path": "/a\xff"'),
    ("in an unknown key's value", b'"path": "/", "extra": "\xff\xfe"'),
    ("in an unknown key", b'"path": "/", "\xc3(": 1'),
    ("a surrogate", b'"path": "/", "extra": "\xed\xa0\x80"'),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    with running_daemon(tmp) as d:
        yield d


def _head(d: Daemon) -> int:
    head: int = d.health()["spool"]["head_seq"]
    return head


def _names_field(messages: list[str], fragment: str) -> bool:
    return any(m.startswith(fragment) for m in messages)


@pytest.mark.parametrize(("name", "event", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_hostile_event_is_refused_naming_the_field(
    daemon: Daemon, name: str, event: dict[str, Any], fragment: str
) -> None:
    before = _head(daemon)
    r = web.post(f"{daemon.url}/api/event", content=json.dumps(event), timeout=10)
    assert r.status_code == 400, (name, r.text)
    assert _names_field(r.json()["message"], fragment), r.text
    assert _head(daemon) == before


@pytest.mark.parametrize(("name", "event", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_hostile_batch_item_is_refused_naming_the_field(
    daemon: Daemon, name: str, event: dict[str, Any], fragment: str
) -> None:
    before = _head(daemon)
    r = web.post(f"{daemon.url}/api/batch", json={"events": [event]}, timeout=10)
    assert r.status_code == 400, (name, r.text)
    (item,) = r.json()["rejected"]
    assert (item["index"], item["statusCode"]) == (0, 400)
    assert _names_field(item["message"], fragment), r.text
    assert _head(daemon) == before


def test_in_a_mixed_batch_only_the_good_events_are_stored(daemon: Daemon) -> None:
    events = [GOOD, *(c[1] for c in CASES), GOOD]
    before = _head(daemon)
    r = web.post(f"{daemon.url}/api/batch", json={"events": events}, timeout=10)
    assert r.status_code == 202, r.text
    body = r.json()
    assert [a["index"] for a in body["accepted"]] == [0, len(events) - 1]
    assert [x["index"] for x in body["rejected"]] == list(range(1, len(events) - 1))
    assert all(x["statusCode"] == 400 for x in body["rejected"])
    assert _head(daemon) == before + 2


@pytest.mark.parametrize(("name", "fields"), BAD_UTF8, ids=[c[0] for c in BAD_UTF8])
@pytest.mark.parametrize("endpoint", ["/api/event", "/api/batch"])
def test_a_byte_that_is_not_utf8_refuses_the_body(
    daemon: Daemon, endpoint: str, name: str, fields: bytes
) -> None:
    event = b'{"siteId": "' + TEST_SITE.encode() + b'", "eventType": "pageview", ' + fields + b"}"
    body = event if endpoint == "/api/event" else b'{"events": [' + event + b"]}"
    before = _head(daemon)
    r = web.post(f"{daemon.url}{endpoint}", content=body, timeout=10)
    assert r.status_code == 400, (name, r.text)
    assert r.json()["message"] == ["body is not valid UTF-8"]
    assert _head(daemon) == before


# Optional fields sent as null mean "not given" (Plausible's tracker sends
# "r": null when there is no referrer): these stay accepted.
NULL_IS_ABSENT: list[dict[str, Any]] = [
    {**PLAUSIBLE, "r": None},
    {**PLAUSIBLE, "r": None, "w": None, "p": None, "$": None},
    {**GOOD, "referrer": None, "sessionId": None, "userId": None, "timestamp": None},
    {**GOOD, "eventId": None, "screenWidth": None, "props": None, "revenue": None},
    {**GOOD, "utm_source": None, "utm_medium": None},
]


@pytest.mark.parametrize("event", NULL_IS_ABSENT)
def test_null_for_an_optional_field_is_accepted_as_absent(
    daemon: Daemon, event: dict[str, Any]
) -> None:
    before = _head(daemon)
    r = web.post(f"{daemon.url}/api/event", content=json.dumps(event), timeout=10)
    assert r.status_code == 202, r.text
    assert _head(daemon) == before + 1


def test_nothing_hostile_is_counted(daemon: Daemon) -> None:
    for _name, event, _ in CASES:
        web.post(f"{daemon.url}/api/event", content=json.dumps(event), timeout=10)
    daemon.wait_caught_up()
    today = datetime.now(UTC).date().isoformat()
    r = daemon.stats(today)
    paths = {p["path"] for p in r.json()["topPaths"]} if r.status_code == 200 else set()
    assert paths <= {"/ok"}, paths
