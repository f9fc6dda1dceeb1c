"""How the chart's point titles write a metric's value (as the cards do)."""

from __future__ import annotations

import pytest

from analyticsd.http.dashboard_data import shown


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("visitors", 1234, "1,234"),
        ("visitors", 0, "0"),
        ("bounce_rate", 50.0, "50%"),
        ("bounce_rate", 33.3, "33.3%"),
        ("bounce_rate", None, "—"),
        ("visit_duration", 26, "26s"),
        ("visit_duration", 125, "2m 5s"),
        ("views_per_visit", 1.5, "1.5"),
    ],
)
def test_values_read_as_on_the_cards(metric: str, value: float | None, text: str) -> None:
    assert shown(metric, value) == text
