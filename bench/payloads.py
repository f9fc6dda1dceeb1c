"""The Python side of the beacon mix (same shape as mix.lua): Zipf paths, many UAs, ~10% bots."""

from __future__ import annotations

import bisect
import itertools
import random

N_PATHS = 500
_weights = list(itertools.accumulate(1 / (i**1.1) for i in range(1, N_PATHS + 1)))
_OSES = [
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "Linux; Android 14; Pixel 8",
    "iPhone; CPU iPhone OS 17_4 like Mac OS X",
]
_UAS = [
    f"Mozilla/5.0 ({o}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{p}.0 Safari/537.36"
    for o in _OSES
    for v in range(80, 130)
    for p in range(10)
]
_BOTS = [
    f"Mozilla/5.0 (compatible; {b}; build {n})"
    for b in ("Googlebot/2.1", "bingbot/2.0", "AhrefsBot/7.0", "HeadlessChrome/120.0.0.0")
    for n in range(20)
]


def path(rnd: random.Random | None = None) -> str:
    r = (rnd or random).random() * _weights[-1]
    return f"/page/{bisect.bisect_left(_weights, r) + 1}"


def user_agent() -> str:
    return random.choice(_BOTS) if random.random() < 0.1 else random.choice(_UAS)


def event_body(site: str, p: str | None = None) -> bytes:
    return (
        f'{{"siteId":"{site}","eventType":"pageview","path":"{p or path()}",'
        f'"referrer":"https://news.example/item?id={random.randint(1, 1000)}"}}'
    ).encode()
