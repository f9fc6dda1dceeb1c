"""HTTP calls of the tests, made as a browser makes them.

"python-httpx/x.y" is (rightly) classified as a bot, and bot events are not
page views; requests in tests stand for a browser's beacons unless a test
sets its own User-Agent header. Same signatures as httpx's.
"""

from __future__ import annotations

from typing import Any

import httpx

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"


def _headers(headers: Any) -> httpx.Headers:
    merged = httpx.Headers({"User-Agent": BROWSER_UA})
    if headers is not None:
        merged.update(httpx.Headers(headers))  # a test's own headers win
    return merged


def get(url: str, *, headers: Any = None, **kw: Any) -> httpx.Response:
    return httpx.get(url, headers=_headers(headers), **kw)


def post(url: str, *, headers: Any = None, **kw: Any) -> httpx.Response:
    return httpx.post(url, headers=_headers(headers), **kw)


def options(url: str, *, headers: Any = None, **kw: Any) -> httpx.Response:
    return httpx.options(url, headers=_headers(headers), **kw)


def Client(*, headers: Any = None, **kw: Any) -> httpx.Client:
    return httpx.Client(headers=_headers(headers), **kw)
