"""Plausible's own Stats API v2 query tests, ported: each case's events go
through our ingest to the real daemon, the query is POSTed to
/api/v2/query, and the answer must equal what Plausible's test expects.

The cases live in v2_cases_*.py (one site each, so they cannot disturb each
other; one daemon serves them all). A case that differs for a known reason
carries `differs`: it is run as a strict xfail, so it is counted and it
fails the run the day it starts passing (then its `differs` goes). The
README in this directory lists those differences.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import web
from tests.compat.plausible_seed import Seeder, as_ingested, build_geo_db, shift, shift_days
from tests.compat.v2_cases_dimensions import CASES as DIMENSION_CASES
from tests.compat.v2_cases_engagement import CASES as ENGAGEMENT_CASES
from tests.compat.v2_cases_filters import CASES as FILTER_CASES
from tests.compat.v2_cases_goal_props import CASES as GOAL_PROPS_CASES
from tests.compat.v2_cases_validation import CASES as VALIDATION_CASES
from tests.helpers import Daemon, free_port, write_config

TOKEN = "compat-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CASES = [
    *FILTER_CASES,
    *DIMENSION_CASES,
    *VALIDATION_CASES,
    *GOAL_PROPS_CASES,
    *ENGAGEMENT_CASES,
]


def site_of(i: int) -> str:
    return f"c{i:03d}.example"


def _config_extra() -> str:
    out = [f'[api]\ntokens = ["{TOKEN}"]\n']
    for i, case in enumerate(CASES):
        tz = case.get("timezone", "UTC")
        out.append(f'[[sites]]\nid = "{site_of(i)}"\ntimezone = "{tz}"\n')
        for goal in case.get("goals", ()):
            # "event:NAME", "page:PATH", or a table's keys ({"event": ..., "name": ...}).
            if isinstance(goal, str):
                kind, _, value = goal.partition(":")
                goal = {kind: value}
            out.append("[[sites.goals]]\n" + "".join(_toml_pair(k, v) for k, v in goal.items()))
    return "\n".join(out)


def _toml_pair(key: str, value: str | dict[str, str]) -> str:
    """`key = "value"`, or an inline table for a goal's `props`."""
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
        return f"{key} = {{ {pairs} }}\n"
    return f"{key} = {json.dumps(value)}\n"


@dataclass
class World:
    d: Daemon
    days: dict[int, int]  # case index → days its dates were moved by


def _batches(site: str, case: dict[str, Any], days: int) -> list[tuple[dict, list]]:
    """(headers, items) per visitor of one case: one batch request each."""
    seeder = Seeder(site, days)
    batches: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    headers: dict[tuple[str, str], dict[str, str]] = {}
    for ev in case["events"]:
        item, h = seeder.item(ev)
        key = (h["User-Agent"], h["X-Forwarded-For"])
        batches[key].append(item)
        headers[key] = h
    return [
        (headers[k], sorted(items, key=lambda it: it["timestamp"])) for k, items in batches.items()
    ]


def _send(d: Daemon, batch: tuple[dict[str, str], list[dict[str, Any]]]) -> None:
    headers, items = batch
    r = web.post(f"{d.url}/api/batch", json={"events": items}, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    assert not r.json()["rejected"], r.text


def _query(d: Daemon, body: dict[str, Any]) -> Any:
    return web.post(
        f"{d.url}/api/v2/query",
        json=body,
        headers={**AUTH, "Cache-Control": "no-cache"},
        timeout=30,
    )


def _counted(d: Daemon, site: str, n: int) -> bool:
    body = {"site_id": site, "metrics": ["events"], "date_range": "all"}
    return bool(_query(d, body).json()["results"][0]["metrics"][0] == n)


def _wait_counted(d: Daemon, expected: dict[str, int]) -> None:
    """Until every case's site shows all its events (asked in parallel: one
    question per site)."""
    deadline = time.monotonic() + 30
    waiting = dict(expected)
    with ThreadPoolExecutor(8) as pool:
        while waiting and time.monotonic() < deadline:
            done = pool.map(lambda item: _counted(d, *item), waiting.items())
            waiting = {
                s: n for (s, n), ok in zip(waiting.items(), list(done), strict=True) if not ok
            }
            if waiting:
                time.sleep(0.1)
    assert not waiting, f"events never all counted: {waiting}"


def seeded_world(
    tmp: Path, extra: str, cases: list[dict[str, Any]], site_of: Callable[[int], str]
) -> Iterator[World]:
    """A daemon serving every case's events (one site per case), each case's
    dates moved to end before today; the v1 port seeds the same way."""
    port = free_port()
    geo = build_geo_db(tmp / "geo.mmdb")
    d = Daemon(write_config(tmp, port, extra=extra, geoip=str(geo)), port)
    d.start()
    try:
        today = datetime.now(UTC).date()
        days = {i: shift_days(case, today) for i, case in enumerate(cases)}
        # Engagement events are not events (as in Plausible): they add none.
        sent = {
            site_of(i): sum(e.get("name") != "engagement" for e in c["events"])
            for i, c in enumerate(cases)
            if c["events"]
        }
        batches = [b for i, c in enumerate(cases) for b in _batches(site_of(i), c, days[i])]
        # Concurrent requests share the spool's group commits (one fsync for many).
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda b: _send(d, b), batches))
        d.wait_caught_up()
        _wait_counted(d, sent)
        yield World(d, days)
    finally:
        d.kill()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from seeded_world(tmp_path_factory.mktemp("compat-v2"), _config_extra(), CASES, site_of)


def _params() -> list[Any]:
    out = []
    for i, case in enumerate(CASES):
        marks = (
            [pytest.mark.xfail(strict=True, reason=case["differs"])] if "differs" in case else []
        )
        out.append(pytest.param(i, id=case["name"], marks=marks))
    return out


def _check(answer: dict[str, Any], status: int, expect: dict[str, Any], days: int) -> None:
    assert status == expect.get("status", 200), answer
    if "error" in expect:
        assert answer == {"error": expect["error"]}
    if "error_contains" in expect:
        assert expect["error_contains"] in answer["error"]
    if "results" in expect:
        got, want = answer["results"], shift(expect["results"], days)
        if expect.get("unordered"):
            got, want = sorted(got, key=repr), sorted(want, key=repr)
        assert got == want
    for key, value in expect.get("meta", {}).items():
        assert answer["meta"].get(key) == shift(value, days), key
    for key in expect.get("meta_absent", ()):
        assert key not in answer["meta"], key


@pytest.mark.parametrize("i", _params())
def test_plausible_case(world: World, i: int) -> None:
    """The case's query, then each variant (the same query with some fields
    changed, as Plausible's test sends them one after the other)."""
    case = as_ingested(CASES[i], CASES[i].get("ingest_values", {}))
    days = world.days[i]
    body = shift({"site_id": site_of(i), **case["body"]}, days)
    r = _query(world.d, body)
    _check(r.json(), r.status_code, case, days)
    for variant in case.get("variants", ()):
        r = _query(world.d, {**body, **shift(variant["body"], days)})
        _check(r.json(), r.status_code, variant, days)
    if case.get("requery"):
        # The answer's `query` is itself a valid request with the same answer.
        again = _query(world.d, r.json()["query"])
        _check(again.json(), again.status_code, case, days)
