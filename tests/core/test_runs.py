"""The aggregation-runs log's pure parts: --since, the table, the metrics."""

from __future__ import annotations

import pytest

from analyticsd.core.metrics import Metrics, exposition
from analyticsd.core.runs import FAILED, FLUSH, OK, PRUNE, Run, failed, parse_since, render

NOW = 1_795_428_000_000  # 2026-11-23T10:00:00Z


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("90s", NOW - 90_000),
        ("90m", NOW - 5_400_000),
        ("6h", NOW - 21_600_000),
        ("2d", NOW - 172_800_000),
        ("2026-11-23", NOW - 36_000_000),
        ("2026-11-23T09:30", NOW - 1_800_000),
        ("2026-11-23T10:00:00+01:00", NOW - 3_600_000),
    ],
)
def test_since(text: str, want: int) -> None:
    assert parse_since(text, NOW) == want


@pytest.mark.parametrize("text", ["", "yesterday", "5w", "-2d", "2026-13-01"])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="expected an age like 90m"):
        parse_since(text, NOW)


def test_a_failed_run_keeps_nothing_it_wrote_and_a_bounded_error() -> None:
    run = failed(Run(NOW, 5, FLUSH, OK, events=3, rows=40, folded=2, last_seq=9), "x" * 900)
    assert (run.outcome, run.events, run.rows, run.folded, run.last_seq) == (FAILED, 3, 0, 0, 9)
    assert len(run.error) == 500


def test_the_table() -> None:
    text = render(
        [
            Run(NOW, 12, FLUSH, OK, events=1000, rows=5321, folded=3, last_seq=1000),
            Run(NOW + 5000, 3, FLUSH, FAILED, events=20, error="database or disk\nis full"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "started", "(UTC)", "kind", "outcome", "ms", "events", "rows", "folded", "error",
    ]  # fmt: skip
    assert lines[1].split() == ["2026-11-23", "10:00:00.000Z", "flush", "ok", "12", "1000",
                                "5321", "3"]  # fmt: skip
    assert lines[2].endswith("database or disk is full")
    assert render([]) == "no aggregation runs logged in that time"


def test_metrics_have_every_series_from_the_start() -> None:
    m = Metrics()
    m.count_run(Run(NOW, 250, FLUSH, OK))
    m.count_run(Run(NOW, 40, PRUNE, FAILED))
    report = {
        "spool": {"events": 0, "bytes": 0, "quota_bytes": 1, "oldest_event_age_s": None},
        "aggregator": {"lag_events": 0, "pending_events": 0, "open_visits": 0},
        "forwarder": {
            "state": "disabled",
            "backlog_events": None,
            "oldest_unforwarded_age_s": None,
        },
        "uptime_s": 1,
    }
    text = exposition(m, report)
    for kind, outcome, n in (("flush", "ok", 1), ("flush", "failed", 0), ("prune", "ok", 0),
                             ("prune", "failed", 1)):  # fmt: skip
        sample = f'analyticsd_aggregation_runs_total{{kind="{kind}",outcome="{outcome}"}} {n}'
        assert sample in text.splitlines()
    assert 'analyticsd_aggregation_run_seconds_bucket{kind="flush",le="0.25"} 1' in text
    assert 'analyticsd_aggregation_run_seconds_bucket{kind="flush",le="0.1"} 0' in text
    assert 'analyticsd_aggregation_run_seconds_sum{kind="prune"} 0.04' in text
