"""Plausible's own Stats API v1 tests, ported: each case's events go through
our ingest to the real daemon, the case's GET goes to /api/v1/stats/..., and
the answer must equal what Plausible's test expects.

The cases live in v1_cases_*.py (one site each; one daemon serves them all,
the sites of the v2 port's format). A case that differs for a known reason
carries `differs` and runs as a strict xfail (see test_v2_query and the
README in this directory).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import web
from tests.compat.plausible_seed import (
    as_ingested,
    shift,
    v1_as_ingested,
)
from tests.compat.test_v2_query import TOKEN, World, _send, seeded_world
from tests.compat.v1_cases_aggregate import CASES as AGGREGATE_CASES
from tests.compat.v1_cases_auth import CASES as AUTH_CASES
from tests.compat.v1_cases_breakdown import CASES as BREAKDOWN_CASES
from tests.compat.v1_cases_timeseries import CASES as TIMESERIES_CASES
from tests.helpers import Daemon

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CASES = [*AGGREGATE_CASES, *TIMESERIES_CASES, *BREAKDOWN_CASES, *AUTH_CASES]
REALTIME_SITE = "realtime.example"


def site_of(i: int) -> str:
    return f"v{i:03d}.example"


def _config_extra() -> str:
    out = [f'[api]\ntokens = ["{TOKEN}"]\n']
    for i, case in enumerate(CASES):
        out.append(f'[[sites]]\nid = "{site_of(i)}"\ntimezone = "UTC"\n')
        for goal in case.get("goals", ()):
            # "event:NAME", "page:PATH", or a table's keys ({"event": ..., "name": ...}).
            if isinstance(goal, str):
                kind, _, value = goal.partition(":")
                goal = {kind: value}
            out.append("[[sites.goals]]\n" + "".join(f'{k} = "{v}"\n' for k, v in goal.items()))
    out.append(f'[[sites]]\nid = "{REALTIME_SITE}"\ntimezone = "UTC"\n')
    return "\n".join(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The default retention (31 days) keeps the per-event rows Plausible's 30d reads.
    tmp = tmp_path_factory.mktemp("compat-v1")
    yield from seeded_world(tmp, _config_extra(), CASES, site_of)


def _params() -> list[Any]:
    out = []
    for i, case in enumerate(CASES):
        marks = (
            [pytest.mark.xfail(strict=True, reason=case["differs"])] if "differs" in case else []
        )
        out.append(
            pytest.param(i, id=f"{case.get('endpoint', 'aggregate')}: {case['name']}", marks=marks)
        )
    return out


def _get(d: Daemon, endpoint: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    return web.get(
        f"{d.url}/api/v1/stats/{endpoint}",
        params=params,
        headers={**headers, "Cache-Control": "no-cache"},
        timeout=30,
    )


def _check(answer: Any, status: int, expect: dict[str, Any], days: int) -> None:
    assert status == expect.get("status", 200), answer
    if "error" in expect:
        assert answer == {"error": expect["error"]}
    if "error_contains" in expect:
        assert expect["error_contains"] in answer["error"]
    if expect.get("results") is not None:
        got, want = answer["results"], shift(expect["results"], days)
        if "first" in expect:  # Plausible's test looks at the first points only
            got = got[: expect["first"]]
        assert got == want
    if "count" in expect:  # Plausible's test counts the rows only
        assert len(answer["results"]) == expect["count"], answer


@pytest.mark.parametrize("i", _params())
def test_plausible_v1_case(world: World, i: int) -> None:
    # The request and expected answers read with the case's ingest_values
    # (see the README); its events are seeded as Plausible's fixture gives them.
    written = CASES[i].get("ingest_values", {})
    case = {
        **as_ingested(CASES[i], written),
        "params": v1_as_ingested(CASES[i]["params"], written),
        "variants": [
            {**as_ingested(v, written), "params": v1_as_ingested(v["params"], written)}
            for v in CASES[i].get("variants", ())
        ],
    }
    days = world.days[i]
    params = shift(case["params"], days)
    if case.get("site", True):
        params = {"site_id": case.get("site_id", site_of(i)), **params}
    headers = case.get("headers", AUTH)
    endpoint = case.get("endpoint", "aggregate")
    r = _get(world.d, endpoint, params, headers)
    _check(r.json(), r.status_code, case, days)
    # The same request with some parameters changed, as Plausible's test
    # sends them one after the other.
    for variant in case.get("variants", ()):
        r = _get(world.d, endpoint, {**params, **shift(variant["params"], days)}, headers)
        _check(r.json(), r.status_code, variant, days)
    if "distinct_pages" in case:  # pages 1..n of a breakdown share no row
        key, n = case["distinct_pages"]
        seen = [
            row[key]
            for page in range(1, n + 1)
            for row in _get(world.d, endpoint, {**params, "page": page}, headers).json()["results"]
        ]
        assert len(seen) == len(set(seen)) == case["rows"], seen


def test_realtime_visitors_are_the_last_five_minutes(world: World) -> None:
    """Plausible's current_visitors_test ("returns unique users in the last 5
    minutes"): a visitor now, one seen 3 and 4 minutes ago (counted once),
    one 6 minutes ago (not counted). The times are taken when the events are
    sent and the answer read right after; a run slower than a minute would
    move the 4-minute visit out of the window, so it is sent at 2.5 minutes
    and the old one at 10. A fourth visitor's clock is 2 minutes ahead: it
    counts too (Plausible's window has no end)."""
    now = datetime.now(UTC)
    visits = [
        ("10.1.0.1", [0.0]),
        ("10.1.0.2", [2.0, 2.5]),
        ("10.1.0.3", [10.0]),
        ("10.1.0.4", [-2.0]),
    ]
    for ip, minutes_ago in visits:
        items = [
            {
                "siteId": REALTIME_SITE,
                "eventType": "pageview",
                "url": "https://localhost/",
                "timestamp": (now - timedelta(minutes=m)).isoformat(),
                "eventId": str(uuid.uuid4()),
            }
            for m in minutes_ago
        ]
        headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/122.0"}
        _send(world.d, ({**headers, "X-Forwarded-For": ip}, items))
    world.d.wait_caught_up()
    deadline = time.monotonic() + 30
    count = None
    while time.monotonic() < deadline:
        r = _get(world.d, "realtime/visitors", {"site_id": REALTIME_SITE, "period": "day"}, AUTH)
        assert r.status_code == 200, r.text
        count = r.json()
        if count == 3:
            break
        time.sleep(0.1)
    assert count == 3
