"""The aggregator's flush timer (plain, no trio)."""

from __future__ import annotations

from analyticsd.actors.aggregator import FlushTimer


def test_interval_flushes_and_the_quiet_flush_after_a_burst() -> None:
    t = FlushTimer(interval_s=5.0, quiet_s=0.5, now=100.0)
    assert not t.due(104.9)
    assert t.due(105.0)
    # Events wait and the feed goes quiet: wake up 0.5 s later and flush then.
    assert t.wake_at(101.0, waiting=True) == 101.5
    assert t.wake_at(101.2, waiting=True) == 101.5  # the quiet clock is not restarted
    t.idle(101.5)
    assert t.due(101.5)
    t.flushed(101.6)
    assert t.next_flush == 106.6


def test_a_batch_or_nothing_waiting_cancels_the_quiet_flush() -> None:
    t = FlushTimer(interval_s=5.0, quiet_s=0.5, now=0.0)
    t.wake_at(1.0, waiting=True)
    t.counted()  # a batch came before the quiet wake-up
    assert t.wake_at(1.2, waiting=True) == 1.7
    assert t.wake_at(1.3, waiting=False) == 5.0  # nothing waits: only the interval
    t.idle(5.0)
    assert t.next_flush == 5.0


def test_quiet_flush_off() -> None:
    t = FlushTimer(interval_s=2.0, quiet_s=0.0, now=0.0)
    assert t.wake_at(0.5, waiting=True) == 2.0
    t.idle(0.6)
    assert not t.due(0.6)
