from __future__ import annotations

import itertools

import pytest

from analyticsd.core.errors import InvalidTransition
from analyticsd.core.link import TRANSITIONS, Link, LinkState, Outcome, Pacer, backoff_s

H, U, S = LinkState.HEALTHY, LinkState.UNREACHABLE, LinkState.STARTING


@pytest.mark.parametrize(
    ("start", "outcome", "end"),
    [
        (S, Outcome.PROBE_OK, H),
        (S, Outcome.PROBE_FAILED, U),
        (H, Outcome.SEND_OK, H),
        (H, Outcome.SEND_FAILED, U),
        (H, Outcome.PROBE_FAILED, U),
        (U, Outcome.PROBE_FAILED, U),
        (U, Outcome.PROBE_OK, H),
    ],
)
def test_transitions(start: LinkState, outcome: Outcome, end: LinkState) -> None:
    link = Link(state=start, since_ms=5)
    changed = link.on(outcome, 100, "boom")
    assert link.state is end
    assert changed == (start is not end)
    assert link.since_ms == (100 if changed else 5)


def test_sends_are_only_possible_while_healthy() -> None:
    missing = [p for p in itertools.product(LinkState, Outcome) if p not in TRANSITIONS]
    assert len(missing) == 4  # a send while starting or unreachable
    for state, outcome in missing:
        assert state is not LinkState.HEALTHY
        assert outcome in (Outcome.SEND_OK, Outcome.SEND_FAILED)
        with pytest.raises(InvalidTransition, match="cannot happen"):
            Link(state=state).on(outcome, 0)


def test_failures_count_up_and_a_success_resets_them() -> None:
    link = Link()
    for i in range(1, 4):
        link.on(Outcome.PROBE_FAILED, i, f"refused {i}")
    assert (link.state, link.failures, link.last_error, link.since_ms) == (U, 3, "refused 3", 1)
    link.on(Outcome.PROBE_OK, 10)
    assert (link.state, link.failures, link.since_ms) == (H, 0, 10)


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    assert backoff_s(0, 2.0, 30.0, 0.7) == 2.0
    assert [backoff_s(n, 2.0, 30.0, 1.0) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert backoff_s(3, 2.0, 30.0, 0.0) == 4.0  # half of 8
    assert backoff_s(10_000, 2.0, 30.0, 1.0) == 30.0  # no overflow


def test_pacer_bounds_the_rate() -> None:
    p = Pacer(1000, now_s=0.0)
    assert p.wait_s(1000, 0.0) == 0.0  # one second's burst
    assert p.wait_s(500, 0.0) == pytest.approx(0.5)
    # After waiting as told, the debt is paid off and the rate holds.
    assert p.wait_s(500, 0.5) == pytest.approx(0.5)
    sent, now = 0, 1.0
    while now < 11.0:
        now += p.wait_s(100, now)
        sent += 100
    assert sent == pytest.approx(10_000, rel=0.02)


def test_pacer_zero_means_unbounded() -> None:
    assert Pacer(0, 0.0).wait_s(10**9, 0.0) == 0.0
