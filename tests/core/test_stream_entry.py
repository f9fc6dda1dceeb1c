from __future__ import annotations

import json
import uuid

import msgspec
import pytest

from analyticsd.core import stream_entry
from analyticsd.core.errors import WireError
from analyticsd.core.geo import GeoInfo
from analyticsd.core.source import Source
from tests.core.records_fixture import rec

SITES = frozenset({"s"})
NOW = 1_790_000_000_000


def _record() -> object:
    r = rec(
        NOW - 5000,
        path="/pricing",
        goals=("Signup",),
        source=Source("organic", "Google", "www.google.com/search"),
        geo=GeoInfo("DE", "Berlin", "Berlin"),
        props={"plan": "pro", "seats": 3, "trial": True},
        revenue=("19.90", "EUR"),
        received_ms=NOW,
    )
    return msgspec.structs.replace(r, event_id=str(uuid.uuid4()))


def _fields(event_id: bytes, event: bytes) -> dict[bytes, bytes]:
    return {stream_entry.EVENT_ID: event_id, stream_entry.EVENT: event}


def test_round_trip_is_exact_and_named() -> None:
    r = _record()
    eid, data = stream_entry.encode(r)  # type: ignore[arg-type]
    assert stream_entry.decode(_fields(eid, data), SITES) == r
    obj = json.loads(data)
    assert obj["v"] == 2
    assert obj["event_id"] == eid.decode()
    assert obj["client"]["browser"] == "Firefox"
    assert obj["geo"]["country"] == "DE"
    assert obj["source"] == {
        "channel": "organic",
        "source": "Google",
        "referrer": "www.google.com/search",
    }
    assert obj["event"]["props"] == {"plan": "pro", "seats": 3, "trial": True}
    assert "ip" not in obj
    assert "ua" not in obj


def _mutated(change: dict[str, object]) -> dict[bytes, bytes]:
    eid, data = stream_entry.encode(_record())  # type: ignore[arg-type]
    obj = json.loads(data)
    for key, value in change.items():
        target = obj
        *path, last = key.split(".")
        for p in path:
            target = target[p]
        target[last] = value
    new_id = str(obj["event_id"]).encode() if "event_id" in change else eid
    return _fields(new_id, json.dumps(obj).encode())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({stream_entry.EVENT_ID: b"x"}, "no 'event' field"),
        ({stream_entry.EVENT: b"{}"}, "no 'event_id' field"),
        (_fields(b"x", b"{not json"), "not a JSON object with a version"),
        (_fields(b"x", b"[1,2]"), "not a JSON object with a version"),
        (_mutated({"v": 3}), "unsupported schema version 3"),
        (_mutated({"event.site_id": "elsewhere"}), "unknown site 'elsewhere'"),
        (_mutated({"event_id": "not-a-uuid"}), "is not a UUID"),
        (_mutated({"event_id": str(uuid.uuid4()).upper()}), "canonical form"),
        (_mutated({"client.bot": "yes"}), "invalid event"),
        (_mutated({"received_ms": 10**18}), "not a plausible time"),
        (_mutated({"event.timestamp_ms": NOW + 3_600_000}), "too far from received_ms"),
        (_mutated({"event.props": {"a": {"nested": 1}}}), "invalid event"),
        (_fields(b"\xff", b'{"v":2}'), "not UTF-8"),
        (_mutated({"visitor": "f" * 40}), "visitor is not a 16-digit hex id"),
        (_mutated({"prev_visitor": "xyz"}), "prev_visitor"),
        (_mutated({"event.revenue_amount": "1e400"}), "revenue amount"),
        (_mutated({"event.revenue_amount": "NaN"}), "revenue amount"),
        (_mutated({"event.revenue_currency": None}), "revenue needs"),
        (_mutated({"event.path": "no-slash"}), "path must start with /"),
        (_mutated({"event.event_type": ""}), "event_type"),
        (_mutated({"event.screen_width": 10**9}), "screen_width"),
        (_mutated({"event.scroll_depth": 101}), "scroll_depth"),
        (_mutated({"event.engaged_ms": -1}), "engaged_ms"),
        (_mutated({"event.utm": {"utm_evil": "x"}}), "utm"),
        (_mutated({"event.props": {f"k{i}": i for i in range(40)}}), "more than 30 props"),
        (_mutated({"event.props": {"n": 2**70}}), "props"),
        (_mutated({"goals": ["g"] * 100}), "too many goals"),
        (_mutated({"geo.city": "x" * 1000}), "longer than 256"),
        (_mutated({"lang": "x" * 257}), "lang: a value is longer than 256"),
        (_mutated({"source.referrer": "x" * 2049}), "longer than 2048"),
        (_mutated({"goals": ["x" * 257]}), "too many goals, or a goal name too long"),
        (_mutated({"event.hostname": "x" * 257}), "longer than 256"),
        (_mutated({"received_ms": "soon"}), "not a plausible time"),
        (_fields(b"x", b" " * (stream_entry.MAX_ENTRY_BYTES + 1)), "more than"),
    ],
)
def test_unusable_entries_say_why(fields: dict[bytes, bytes], message: str) -> None:
    with pytest.raises(WireError, match=message):
        stream_entry.decode(fields, SITES)


def test_event_id_field_must_match_the_event() -> None:
    _, data = stream_entry.encode(_record())  # type: ignore[arg-type]
    with pytest.raises(WireError, match="differ"):
        stream_entry.decode(_fields(str(uuid.uuid4()).encode(), data), SITES)
