"""Hostile and malformed input: each gets a clear 4xx, nothing is stored, the daemon serves on."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from tests import web
from tests.helpers import TEST_SITE, Daemon

GOOD = {"siteId": TEST_SITE, "eventType": "pageview", "path": "/ok"}
JSON = {"Content-Type": "application/json"}

# (name, body bytes, extra headers, expected status, a fragment of the message)
CASES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("malformed json", b'{"siteId": ', JSON, 400, "not valid JSON"),
    ("not an object", b"[1, 2]", JSON, 400, "must be a JSON object"),
    (
        "wrong types",
        b'{"siteId": 5, "eventType": [], "path": 7}',
        JSON,
        400,
        "siteId must be a string",
    ),
    ("missing fields", b"{}", JSON, 400, "siteId should not be empty"),
    (
        "invalid utf-8",
        b'{"siteId": "\xff\xfe", "eventType": "pageview"}',
        JSON,
        400,
        "not valid UTF-8",
    ),
    ("10 MB body", b"x" * (10 * 1024 * 1024), JSON, 413, "larger than"),
    (
        "unknown site",
        b'{"siteId": "nope.example", "eventType": "pageview", "path": "/"}',
        JSON,
        403,
        "not a configured site",
    ),
    ("deeply nested", b"[" * 30000 + b"]" * 30000, JSON, 400, "nested too deeply"),
    (
        "nested props",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/", "props": {"a": {"b": 1}}}',
        JSON,
        400,
        "props are flat",
    ),
    (
        "huge float",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/", "screenWidth": 1e400}',
        JSON,
        400,
        "not valid JSON",
    ),
    (
        "huge integer",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/",'
        b' "screenWidth": 123456789012345678901234567890}',
        JSON,
        400,
        "screenWidth",
    ),
    (
        "huge revenue",
        b'{"siteId": "test_site", "eventType": "purchase", "path": "/",'
        b' "revenue": {"amount": 1e300, "currency": "EUR"}}',
        JSON,
        400,
        "revenue.amount",
    ),
    (
        "NUL in a string",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/a\\u0000b"}',
        JSON,
        400,
        "NUL",
    ),
    (
        "raw NUL byte",
        b'{"siteId": "test_site",\x00 "eventType": "pageview"}',
        JSON,
        400,
        "not valid JSON",
    ),
    (
        "far future",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/",'
        b' "timestamp": "2999-01-01T00:00:00Z"}',
        JSON,
        400,
        "in the future",
    ),
    (
        "not a date",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/", "timestamp": "yesterday"}',
        JSON,
        400,
        "ISO 8601",
    ),
    (
        "bad eventId",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/", "eventId": "123"}',
        JSON,
        400,
        "eventId must be a UUID",
    ),
    (
        "bad currency",
        b'{"siteId": "test_site", "eventType": "purchase", "path": "/",'
        b' "revenue": {"amount": 5, "currency": "euro"}}',
        JSON,
        400,
        "currency",
    ),
    (
        "form body",
        b"siteId=test_site",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "Content-Type",
    ),
    (
        "forged proxy header",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/"}',
        {**JSON, "X-Forwarded-For": "not-an-ip"},
        400,
        "X-Forwarded-For",
    ),
    (
        "foreign origin",
        b'{"siteId": "test_site", "eventType": "pageview", "path": "/"}',
        {**JSON, "Origin": "https://evil.example"},
        403,
        "not allowed",
    ),
]


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(
    ("name", "body", "headers", "status", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_each_bad_input_is_refused_and_changes_nothing(
    daemon: Daemon, name: str, body: bytes, headers: dict[str, str], status: int, fragment: str
) -> None:
    before = daemon.health()["spool"]["head_seq"]
    r = web.post(f"{daemon.url}/api/event", content=body, headers=headers, timeout=30)
    assert r.status_code == status, (name, r.text)
    payload = r.json()
    assert payload["statusCode"] == status
    assert any(fragment in m for m in payload["message"]), payload
    after = daemon.health()
    assert after["spool"]["head_seq"] == before
    assert after["status"] == "ok"


def test_bad_batches(daemon: Daemon) -> None:
    url = f"{daemon.url}/api/batch"
    r = web.post(url, json={"events": "x"}, timeout=5)
    assert r.status_code == 400
    assert "non-empty array" in r.json()["message"][0]
    r = web.post(url, json={"events": [GOOD] * 501}, timeout=5)
    assert r.status_code == 400
    assert "at most 500" in r.json()["message"][0]
    r = web.post(
        url,
        json={"events": [{"siteId": ""}, {"siteId": "nope", "eventType": "x", "path": "/"}]},
        timeout=5,
    )
    assert r.status_code == 400
    rejected = r.json()["rejected"]
    assert [x["index"] for x in rejected] == [0, 1]
    assert rejected[1]["statusCode"] == 403
    # A mixed batch: the good ones are stored, the bad ones named.
    r = web.post(url, json={"events": [GOOD, {"siteId": TEST_SITE}, GOOD]}, timeout=5)
    assert r.status_code == 202
    body = r.json()
    assert [a["index"] for a in body["accepted"]] == [0, 2]
    assert body["rejected"][0]["index"] == 1
    assert "eventType should not be empty" in body["rejected"][0]["message"]
    daemon.wait_caught_up()
    assert daemon.stats(_today()).json()["totalViews"] == 2


def _raw_http(daemon: Daemon, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_protocol_garbage(daemon: Daemon) -> None:
    assert _raw_http(daemon, b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    huge_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    assert _raw_http(daemon, huge_header).split(b" ")[1] in (b"400", b"431")
    r = web.get(f"{daemon.url}/api/event", timeout=5)
    assert r.status_code == 405
    r = web.get(f"{daemon.url}/nowhere", timeout=5)
    assert r.status_code == 404


def test_all_bad_input_together_then_still_serving(daemon: Daemon) -> None:
    for _name, body, headers, status, _ in CASES:
        r = web.post(f"{daemon.url}/api/event", content=body, headers=headers, timeout=30)
        assert r.status_code == status
    _raw_http(daemon, b"\x00\x01\x02 nonsense\r\n\r\n")
    health = daemon.health()
    assert health["status"] == "ok"
    assert health["spool"]["head_seq"] == 0
    daemon.wait_caught_up()
    assert daemon.stats(_today()).status_code == 404  # nothing was counted
    r = web.post(f"{daemon.url}/api/event", json=GOOD, timeout=5)
    assert r.status_code == 202
    daemon.wait_caught_up()
    assert daemon.stats(_today()).json()["totalViews"] == 1
