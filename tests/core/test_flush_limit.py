"""The flush limit: a tenth after a failure, down to the floor; doubled after
GROW_AFTER full flushes in a row, up to the ceiling."""

from __future__ import annotations

from itertools import pairwise

import pytest

from analyticsd.core.flush_limit import GROW_AFTER, FlushLimit


def test_a_failure_cuts_the_limit_to_a_tenth_of_what_failed() -> None:
    limit = FlushLimit(ceiling=100_000, floor=1_000)
    assert limit.failed(100_000)
    assert limit.value == 10_000
    assert limit.failed(10_000)
    assert limit.value == 1_000
    # At the floor the same flush is retried later, not cut again.
    assert not limit.failed(1_000)
    assert limit.value == 1_000


def test_a_small_failed_flush_cuts_from_its_own_size() -> None:
    limit = FlushLimit(ceiling=100_000, floor=1_000)
    assert limit.failed(30_000)  # a flush by the clock, under the limit
    assert limit.value == 3_000
    assert not limit.failed(800)  # below the floor: nothing smaller is tried
    assert limit.value == 3_000


@pytest.mark.parametrize("failed", [100_000, 12_000])
def test_full_flushes_in_a_row_raise_it_back_to_the_ceiling(failed: int) -> None:
    limit = FlushLimit(ceiling=100_000, floor=1_000)
    limit.failed(failed)
    seen = [limit.value]
    while limit.reduced:
        for _ in range(GROW_AFTER - 1):
            limit.succeeded(limit.value)
            assert limit.value == seen[-1]  # not yet
        limit.succeeded(limit.value)
        seen.append(limit.value)
    assert seen[-1] == 100_000
    assert all(b == min(2 * a, 100_000) for a, b in pairwise(seen))


def test_flushes_under_the_limit_or_a_failure_do_not_count_towards_growth() -> None:
    limit = FlushLimit(ceiling=100_000, floor=1_000)
    limit.failed(10_000)
    for _ in range(GROW_AFTER * 3):
        limit.succeeded(999)  # by the clock, smaller than the limit
    assert limit.value == 1_000
    for _ in range(GROW_AFTER - 1):
        limit.succeeded(1_000)
    limit.failed(500)  # the streak is broken
    limit.succeeded(1_000)
    assert limit.value == 1_000


def test_room_left_before_the_flush_is_due() -> None:
    limit = FlushLimit(ceiling=5_000, floor=1_000)
    assert limit.room(0) == 5_000
    assert limit.room(4_200) == 800
    assert limit.room(6_000) == 1  # never zero: a batch always makes progress
