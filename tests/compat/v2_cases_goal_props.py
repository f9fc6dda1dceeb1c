"""Ported from Plausible's query_goal_custom_props_test.exs: goals limited to
events with given custom property values.

Our goals (`[[sites.goals]]`) have no property condition yet, so the goals
here are the same goals without it; the cases that depend on the condition
differ. See v2_cases_filters for the case format.
"""

from __future__ import annotations

from typing import Any

from tests.compat.v2_cases_filters import ALL, ev, pv

GOAL_PROPS = "goals cannot require custom property values here (no such goal setting yet)"


def _row(dims: list[str], metrics: list[Any]) -> dict[str, Any]:
    return {"dimensions": dims, "metrics": metrics}


GOAL_FILTER = {**ALL, "metrics": ["visitors", "events"]}

CASES: list[dict[str, Any]] = [
    {
        "name": "filters custom event goals by custom properties",
        "goals": ["event:Purchase"],  # Plausible's: custom_props variant=A
        "events": [
            ev("Purchase", props={"variant": "A"}, ts="2021-01-01 00:00:01"),
            ev("Purchase", props={"variant": "A"}, ts="2021-01-01 00:00:02"),
            ev("Purchase", props={"variant": "B"}, ts="2021-01-01 00:00:03"),
            ev("Purchase", ts="2021-01-01 00:00:04"),
        ],
        "body": {**GOAL_FILTER, "filters": [["is", "event:goal", ["Purchase"]]]},
        "results": [_row([], [2, 2])],
        "differs": GOAL_PROPS,
    },
    {
        "name": "filters with multiple custom properties (AND logic)",
        "goals": ["event:Purchase"],  # Plausible's: variant=A and plan=premium
        "events": [
            ev("Purchase", props={"variant": "A", "plan": "premium"}),
            ev("Purchase", props={"variant": "A", "plan": "free"}, user=1),
            ev("Purchase", props={"variant": "B", "plan": "premium"}, user=2),
            ev("Purchase", props={"variant": "A"}, user=3),
        ],
        "body": {**GOAL_FILTER, "filters": [["is", "event:goal", ["Purchase"]]]},
        "results": [_row([], [1, 1])],
        "differs": GOAL_PROPS,
    },
    {
        "name": "goals without custom_props filter match all events",
        "goals": ["event:Signup"],
        "events": [
            ev("Signup", props={"source": "google"}),
            ev("Signup", props={"source": "twitter"}),
            ev("Signup"),
        ],
        "body": {**GOAL_FILTER, "filters": [["is", "event:goal", ["Signup"]]]},
        "results": [_row([], [3, 3])],
    },
    {
        "name": "breakdown by event:goal with custom property filters",
        "goals": ["event:Purchase A", "event:Purchase B"],  # variant=A / variant=B
        "events": [
            ev("Purchase A", props={"variant": "A"}, user=1),
            ev("Purchase A", props={"variant": "A"}, user=1),
            ev("Purchase B", props={"variant": "B"}, user=1),
        ],
        "body": {**GOAL_FILTER, "dimensions": ["event:goal"]},
        "results": [_row(["Purchase A"], [1, 2]), _row(["Purchase B"], [1, 1])],
    },
    {
        "name": "custom property filters work with conversion_rate metric",
        "goals": ["event:Signup"],  # method=email
        "events": [
            pv(user=1),
            ev("Signup", props={"method": "email"}, user=1),
            pv(user=2),
            ev("Signup", props={"method": "google"}, user=2),
            pv(user=3),
        ],
        "body": {
            **ALL,
            "metrics": ["visitors", "events", "conversion_rate"],
            "filters": [["is", "event:goal", ["Signup"]]],
        },
        "results": [_row([], [1, 1, 33.33])],
        "differs": GOAL_PROPS,
    },
    {
        "name": "custom property filters work with multi-dimensional breakdown",
        "goals": ["event:Purchase"],  # variant=A
        "events": [
            ev("Purchase", props={"variant": "A", "plan": "premium"}),
            ev("Purchase", props={"variant": "A", "plan": "free"}, user=2),
            ev("Purchase", props={"variant": "B", "plan": "premium"}, user=3),
        ],
        "body": {
            **GOAL_FILTER,
            "dimensions": ["event:goal", "event:props:plan"],
            "filters": [["is", "event:goal", ["Purchase"]]],
        },
        "results": [_row(["Purchase", "free"], [1, 1]), _row(["Purchase", "premium"], [1, 1])],
        "unordered": True,
        "differs": GOAL_PROPS,
    },
    {
        "name": "custom property filters work with time series queries",
        "goals": ["event:Click"],  # button=cta
        "events": [
            ev("Click", props={"button": "cta"}, ts="2021-01-01 00:00:00"),
            ev("Click", props={"button": "nav"}, ts="2021-01-01 00:00:00"),
            ev("Click", props={"button": "cta"}, ts="2021-01-02 00:00:00"),
        ],
        "body": {
            "date_range": ["2021-01-01", "2021-01-02"],
            "metrics": ["visitors"],
            "dimensions": ["time:day"],
            "filters": [["is", "event:goal", ["Click"]]],
        },
        "results": [_row(["2021-01-01"], [1]), _row(["2021-01-02"], [1])],
        "differs": GOAL_PROPS,
    },
    {
        "name": "different goals with same event name but different custom props are distinguished",
        "goals": [
            {"event": "Button Click", "name": "Red Button"},  # color=red
            {"event": "Button Click", "name": "Blue Button"},  # color=blue
        ],
        "events": [
            ev("Button Click", props={"color": "red"}, user=1),
            ev("Button Click", props={"color": "red"}, user=1),
            ev("Button Click", props={"color": "blue"}, user=2),
            ev("Button Click", user=3),
        ],
        "body": {**GOAL_FILTER, "dimensions": ["event:goal"]},
        # Plausible's test looks up these two rows (and no "Button Click" row).
        "results": [_row(["Red Button"], [1, 2]), _row(["Blue Button"], [1, 1])],
        "unordered": True,
        "differs": GOAL_PROPS,
    },
]
