"""Funnels and retention in SQL give the answers of the every-event reference.

The reference is core.funnel run on every event (what the Stats API ran
before the step matching moved into SQL): checked on the hand tables of
tests/core/test_funnel.py and on a generated month of traffic, in a zone
whose UTC offset changes within it. Each test runs on both engines of
per-event rows: SQLite's and the column store's copy (storage.columnstore).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyticsd.core.aggregate import day_number
from analyticsd.core.funnel import FunnelDef, Step
from analyticsd.storage.actor_sql import reference_funnel, reference_retention
from analyticsd.storage.columnstore import ColumnStore
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import StatsStoreView
from analyticsd.storage.statsdb import FILENAME, StatsDB, connect_readonly

SITE = "s.example"
HOME, PRICING, SIGNUP = (
    Step("home", page="/"),
    Step("pricing", page="/pricing"),
    Step("signup", event="Signup"),
)
# (actor, ts ms, name, path, props, user id)
Row = tuple[int, int, str, str, dict[str, object], str | None]


@pytest.fixture(params=[False, True], ids=["sqlite-rows", "column-store"])
def columns(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def _store(tmp_path: Path, rows: list[Row], columns: bool) -> tuple[StatsStoreView, QueryEngine]:
    db = StatsDB(str(tmp_path))
    db.conn.executemany(
        "INSERT INTO events(site, ts, session, visitor, name, path, props, user_id, event_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (SITE, ts, actor, actor, name, path, json.dumps(props) if props else None, user, f"{i}")
            for i, (actor, ts, name, path, props, user) in enumerate(rows)
        ],
    )
    db.close()
    store = ColumnStore(str(tmp_path)) if columns else None
    engine = QueryEngine(connect_readonly(str(tmp_path / FILENAME)), columns=store)
    if store is not None:
        with engine.events() as d:
            assert d.duck  # the copy is what the questions read
    return StatsStoreView(engine), engine


def _at(t_s: int) -> int:
    return 1_700_000_000_000 + t_s * 1000


def test_funnel_hand_table_in_sql(tmp_path: Path, columns: bool) -> None:
    """tests/core/test_funnel.py's table: a converts, b reaches pricing, c
    only home, d signs up before pricing, e never starts."""
    actors = {
        1: [(0, "pageview", "/"), (20, "pageview", "/pricing"), (60, "Signup", "/")],
        2: [(0, "pageview", "/"), (60, "pageview", "/pricing")],
        3: [(0, "pageview", "/")],
        4: [(0, "pageview", "/"), (5, "Signup", "/"), (100, "pageview", "/pricing")],
        5: [(0, "pageview", "/pricing")],
    }
    rows: list[Row] = [
        (a, _at(t), name, path, {}, None) for a, evs in actors.items() for t, name, path in evs
    ]
    store, engine = _store(tmp_path, rows, columns)
    start, end = _at(-10), _at(1000)
    loose = store.funnel(SITE, start, end, False, FunnelDef("f", (HOME, PRICING, SIGNUP), 3600))
    assert [
        (s["visitors"], s["conversion_rate"], s["drop_off"], s["avg_time_from_previous_s"])
        for s in loose["steps"]
    ] == [(4, 100.0, 0, None), (3, 75.0, 1, 60.0), (1, 33.33, 2, 40.0)]
    assert loose["avg_time_to_convert_s"] == 60.0
    f = FunnelDef("f", (HOME, PRICING, SIGNUP), 3600, "strict")
    strict = store.funnel(SITE, start, end, False, f)
    assert [s["visitors"] for s in strict["steps"]] == [4, 2, 1]
    assert strict == reference_funnel(engine, SITE, start, end, False, f)
    engine.close()


def test_retention_hand_table_in_sql(tmp_path: Path, columns: bool) -> None:
    def ms(date: str) -> int:
        return int(datetime.strptime(f"{date} 12", "%Y-%m-%d %H").replace(tzinfo=UTC).timestamp())

    activity = {
        "u1": ["2026-03-01", "2026-03-02", "2026-03-03"],
        "u2": ["2026-03-01", "2026-03-03"],
        "u3": ["2026-03-01"],
        "u4": ["2026-03-02", "2026-03-03"],
        "u5": ["2026-03-03"],
    }
    rows: list[Row] = [
        (1, ms(d) * 1000, "Signup", "/", {}, u) for u, days in activity.items() for d in days
    ]
    store, engine = _store(tmp_path, rows, columns)
    first, last, today = (day_number(d) for d in ("2026-03-01", "2026-03-03", "2026-03-04"))
    start, end = ms("2026-02-28") * 1000, ms("2026-03-05") * 1000
    matrix, curve = store.retention(SITE, "UTC", start, end, "day", 2, first, last, today)
    assert matrix == [
        (first, 3, [3, 1, 2]),
        (first + 1, 1, [1, 1, 0]),
        (first + 2, 1, [1, 0, None]),
    ]
    assert curve == [100.0, 40.0, 50.0]
    engine.close()


def _month(seed: int) -> list[Row]:
    """A month of visits (March 2026, across the DST change in Berlin): a
    few pages, signups with a plan, some of the actors signed in."""
    rng = random.Random(seed)
    pages = ["/", "/pricing", "/docs/a", "/docs/b", "/blog/x"]
    start = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    rows: list[Row] = []
    for actor in range(1, 400):
        user = f"user{actor % 90}" if rng.random() < 0.6 else None
        for _ in range(rng.randint(1, 4)):
            t = start + rng.randrange(31 * 86_400_000)
            for _ in range(rng.randint(1, 8)):
                if rng.random() < 0.2:
                    props: dict[str, object] = {"plan": rng.choice(["free", "pro", True, 3])}
                    rows.append((actor, t, "Signup", "/", props, user))
                else:
                    rows.append((actor, t, "pageview", rng.choice(pages), {}, user))
                # Equal times happen (the rowid keeps their order).
                t += rng.choice([0, 1000, 30_000, 600_000, 4_000_000])
    rng.shuffle(rows)
    return rows


FUNNELS = [
    (HOME, PRICING, SIGNUP),
    (Step("docs", page="/docs/*"), Step("pro", event="Signup", props=(("plan", "pro"),))),
    (HOME, Step("any page", page="*"), Step("docs", page="/docs/*"), SIGNUP),
    (Step("flag", event="Signup", props=(("plan", "true"),)), HOME),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_month_funnels_equal_the_reference(
    tmp_path: Path, seed: int, columns: bool
) -> None:
    store, engine = _store(tmp_path, _month(seed), columns)
    start = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    end = start + 32 * 86_400_000
    checked = 0
    for steps in FUNNELS:
        for order in ("loose", "strict"):
            for window in (60, 3600, 86_400):
                for by_user in (False, True):
                    f = FunnelDef("f", steps, window, order)
                    ours = store.funnel(SITE, start, end, by_user, f)
                    assert ours == reference_funnel(engine, SITE, start, end, by_user, f)
                    checked += ours["steps"][-1]["visitors"] > 0
    assert checked > 10  # most of them convert someone: the comparison has teeth
    engine.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_month_retention_equals_the_reference(
    tmp_path: Path, seed: int, columns: bool
) -> None:
    store, engine = _store(tmp_path, _month(seed), columns)
    tz = "Europe/Berlin"
    first, last = day_number("2026-03-01"), day_number("2026-03-20")
    today = day_number("2026-03-25")
    start = int(datetime(2026, 2, 28, 23, tzinfo=UTC).timestamp() * 1000)
    end = start + 40 * 86_400_000
    for period in ("day", "week", "month"):
        for start_event, return_event in (("", ""), ("Signup", ""), ("", "Signup")):
            args = (SITE, tz, start, end, period, 6, first, last, today, start_event, return_event)
            ours = store.retention(*args)
            assert ours == reference_retention(engine, *args)
            assert ours[0]  # some cohorts
    engine.close()
