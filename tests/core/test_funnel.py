"""Funnels and retention against hand-computed tables."""

from __future__ import annotations

from datetime import UTC, datetime

from analyticsd.core.aggregate import day_number
from analyticsd.core.funnel import FunnelDef, Step, actor_progress, funnel, retention

HOME, PRICING, SIGNUP = (
    Step("home", page="/"),
    Step("pricing", page="/pricing"),
    Step("signup", event="Signup"),
)
S = 1000  # ms


def pv(t: int, path: str) -> tuple[int, str, str, dict[str, object]]:
    return (t * S, "pageview", path, {})


def ev(t: int, name: str, **props: object) -> tuple[int, str, str, dict[str, object]]:
    return (t * S, name, "/", dict(props))


def test_loose_order_allows_events_in_between_strict_does_not() -> None:
    events = [pv(0, "/"), pv(10, "/docs"), pv(20, "/pricing"), ev(30, "Signup")]
    loose = FunnelDef("f", (HOME, PRICING, SIGNUP), 3600, "loose")
    strict = FunnelDef("f", (HOME, PRICING, SIGNUP), 3600, "strict")
    assert actor_progress(events, loose) == [0, 20 * S, 30 * S]
    assert actor_progress(events, strict) == [0]  # /docs came between / and /pricing
    direct = [pv(0, "/"), pv(20, "/pricing"), ev(30, "Signup")]
    assert actor_progress(direct, strict) == [0, 20 * S, 30 * S]


def test_conversion_window_edge_is_inclusive() -> None:
    f = FunnelDef("f", (HOME, PRICING), 60, "loose")
    assert len(actor_progress([pv(0, "/"), pv(60, "/pricing")], f)) == 2  # exactly the window
    assert len(actor_progress([pv(0, "/"), pv(61, "/pricing")], f)) == 1  # one second late


def test_a_later_attempt_that_completes_counts() -> None:
    f = FunnelDef("f", (HOME, PRICING), 60, "loose")
    events = [pv(0, "/"), pv(500, "/"), pv(530, "/pricing")]
    assert actor_progress(events, f) == [500 * S, 530 * S]


def test_out_of_order_steps_do_not_count() -> None:
    f = FunnelDef("f", (HOME, PRICING), 3600, "loose")
    assert actor_progress([pv(0, "/pricing"), pv(10, "/")], f) == [10 * S]


def test_step_property_filters_and_wildcards() -> None:
    pro = Step("pro signup", event="Signup", props=(("plan", "pro"),))
    blog = Step("blog", page="/blog/*")
    f = FunnelDef("f", (blog, pro), 3600, "loose")
    assert len(actor_progress([pv(0, "/blog/x"), ev(5, "Signup", plan="free")], f)) == 1
    assert len(actor_progress([pv(0, "/blog/x"), ev(5, "Signup", plan="pro")], f)) == 2


def test_funnel_table() -> None:
    """Five actors; the table below is counted by hand.

    a: / → /pricing → Signup          (3 steps; 20 s, then 40 s)
    b: / → /pricing                   (2 steps; 60 s)
    c: /                              (1 step)
    d: / → Signup → /pricing          (loose: 2 steps, Signup before pricing does not count)
    e: /pricing only                  (0 steps)
    """
    actors = [
        [pv(0, "/"), pv(20, "/pricing"), ev(60, "Signup")],
        [pv(0, "/"), pv(60, "/pricing")],
        [pv(0, "/")],
        [pv(0, "/"), ev(5, "Signup"), pv(100, "/pricing")],
        [pv(0, "/pricing")],
    ]
    res = funnel(actors, FunnelDef("f", (HOME, PRICING, SIGNUP), 3600, "loose"))
    table = [
        (s["visitors"], s["conversion_rate"], s["drop_off"], s["avg_time_from_previous_s"])
        for s in res["steps"]
    ]
    assert table == [
        (4, 100.0, 0, None),
        (3, 75.0, 1, round((20 + 60 + 100) / 3, 1)),
        (1, 33.33, 2, 40.0),
    ]
    assert res["overall_conversion_rate"] == 25.0
    assert res["avg_time_to_convert_s"] == 60.0
    strict = funnel(actors, FunnelDef("f", (HOME, PRICING, SIGNUP), 3600, "strict"))
    # d breaks at Signup between / and /pricing.
    assert [s["visitors"] for s in strict["steps"]] == [4, 2, 1]


def ms(date: str, hour: int = 12) -> int:
    return int(
        datetime.strptime(date, "%Y-%m-%d").replace(hour=hour, tzinfo=UTC).timestamp() * 1000
    )


def test_retention_matrix_and_curve() -> None:
    """Hand table, daily cohorts, 2 periods, today = 2026-03-04.

    u1: 03-01, 03-02, 03-03   u2: 03-01, 03-03   u3: 03-01
    u4: 03-02, 03-03          u5: 03-03 (cohort 03-03)
    cohort 03-01 (3): +1 day u1 → 1;  +2 days u1, u2 → 2
    cohort 03-02 (1): +1 day u4 → 1;  +2 days (03-04, today) → 0
    cohort 03-03 (1): +1 day (today) → 0; +2 days not yet → null
    """
    activity = {
        "u1": ["2026-03-01", "2026-03-02", "2026-03-03"],
        "u2": ["2026-03-01", "2026-03-03"],
        "u3": ["2026-03-01"],
        "u4": ["2026-03-02", "2026-03-03"],
        "u5": ["2026-03-03"],
    }
    rows = sorted((u, ms(d), "pageview") for u, days in activity.items() for d in days)
    matrix, curve = retention(
        rows,
        "UTC",
        "day",
        2,
        day_number("2026-03-01"),
        day_number("2026-03-03"),
        day_number("2026-03-04"),
    )
    assert matrix == [
        (day_number("2026-03-01"), 3, [3, 1, 2]),
        (day_number("2026-03-02"), 1, [1, 1, 0]),
        (day_number("2026-03-03"), 1, [1, 0, None]),
    ]
    assert curve == [100.0, 40.0, 50.0]  # (1+1+0)/5, (2+0)/4


def test_retention_start_and_return_events_and_weeks() -> None:
    rows = sorted(
        [
            ("a", ms("2026-03-02"), "Signup"),  # Monday, week 1
            ("a", ms("2026-03-10"), "Purchase"),  # week 2
            ("b", ms("2026-03-03"), "pageview"),  # no Signup: not in a cohort
            ("b", ms("2026-03-04"), "Signup"),  # week 1 cohort after all
            ("b", ms("2026-03-11"), "pageview"),  # not a return event
        ]
    )
    matrix, _ = retention(
        rows,
        "UTC",
        "week",
        1,
        day_number("2026-03-02"),
        day_number("2026-03-08"),
        day_number("2026-03-20"),
        start_event="Signup",
        return_event="Purchase",
    )
    assert [(size, counts) for _, size, counts in matrix] == [(2, [2, 1])]
