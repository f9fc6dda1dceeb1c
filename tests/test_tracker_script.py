"""The tracker script as served: minified, under MAX_BYTES, endpoint and features filled in."""

from __future__ import annotations

import itertools

import pytest

from analyticsd.http.tracker import EXTENSIONS, MAX_BYTES, features_of, script


def test_the_served_script_is_small_and_filled_in() -> None:
    for path in ("/api/event", "/a/rather/long/renamed/endpoint/to/dodge/block/lists"):
        body = script(path, frozenset(f for f in EXTENSIONS.values() if f))
        assert len(body) <= MAX_BYTES, len(body)
        assert f'new URL("{path}",s.src)'.encode() in body
        assert b"EVENT_PATH" not in body
        assert b"FEATURES" not in body
        assert b"/*" not in body  # comments stripped


def test_every_feature_is_in_the_minified_script() -> None:
    body = script("/api/event").decode()
    for needle in (
        "pushState", "popstate", "hashchange",  # single-page apps, hash routes
        "Outbound Link: Click", "File Download", "plausible-(event|revenue)",
        "engagement", "sd:", "pagehide", "visibilitychange",
        "sendBeacon", "keepalive", "analyticsd_ignore", "plausible_ignore", "data-",
        "w.plausible=w.analyticsd=send", "P.q",
    ):  # fmt: skip
        assert needle in body, needle


@pytest.mark.parametrize(
    ("name", "features"),
    [
        ("script.js", ""),
        ("plausible.js", ""),
        ("script.hash.js", "h"),
        ("script.outbound-links.js", "o"),
        ("script.tagged-events.js", "t"),
        ("script.file-downloads.outbound-links.js", "fo"),
        ("plausible.hash.manual.local.js", "hml"),
        ("script.revenue.compat.exclusions.pageview-props.js", "xp"),
    ],
)
def test_plausible_names_turn_on_their_features(name: str, features: str) -> None:
    assert features_of(name) == frozenset(features)
    flags = "{" + ",".join(f"{f}:1" for f in sorted(features)) + "}"
    assert f"F={flags}" in script("/api/event", frozenset(features)).decode()


def test_every_combination_in_any_order_is_a_name() -> None:
    names = list(EXTENSIONS)
    for n in (1, 2, 3):
        for combo in itertools.permutations(names, n):
            assert features_of(".".join(("script", *combo, "js"))) is not None


@pytest.mark.parametrize(
    "name", ["script.nope.js", "script.hash.hash.js", "other.js", "script.hash", "script..js"]
)
def test_other_names_are_not_scripts(name: str) -> None:
    assert features_of(name) is None
