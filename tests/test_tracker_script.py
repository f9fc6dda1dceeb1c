"""The tracker script as served: minified, under 2 KB, endpoint filled in."""

from __future__ import annotations

from analyticsd.http.tracker import MAX_BYTES, script


def test_the_served_script_is_under_two_kilobytes() -> None:
    for path in ("/api/event", "/a/rather/long/renamed/endpoint/to/dodge/block/lists"):
        body = script(path)
        assert len(body) <= MAX_BYTES == 2048, len(body)
        assert f'new URL("{path}",s.src)'.encode() in body
        assert b"EVENT_PATH" not in body
        assert b"/*" not in body  # comments stripped


def test_every_feature_is_in_the_minified_script() -> None:
    body = script("/api/event").decode()
    for needle in (
        "pushState", "popstate", "hashchange",  # single-page apps, hash routes
        "Outbound Link: Click", "File Download",
        "engagement", "scroll_depth", "pagehide", "visibilitychange",
        "sendBeacon", "keepalive", "analyticsd_ignore", "data-",
    ):  # fmt: skip
        assert needle in body, needle
