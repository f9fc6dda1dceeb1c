"""The pieces of the memory budget: the compact id set, evicted visits
remembered, marks moved out and read back (pure; the spill store and the
daemon are tested in tests/storage/test_spill.py and tests/e2e)."""

from __future__ import annotations

import random

from analyticsd.core.aggregate import DAY, HOUR, Aggregation, buckets
from analyticsd.core.batch import V_VISITORS
from analyticsd.core.dimensions import SITE_PAIR
from analyticsd.core.idset import MERGE_AT, IdSet
from analyticsd.core.sessions import SESSION_GAP_MS, Session, SessionBook
from tests.core.records_fixture import ms, rec

T0 = ms("2026-03-02T10:00:00+00:00")


def test_the_id_set_is_exact_across_merges_and_signs() -> None:
    rnd = random.Random(3)
    kept = {rnd.getrandbits(64) - (1 << 63) for _ in range(3 * MERGE_AT + 7)}
    ids = IdSet()
    for n in kept:
        ids.add(n)
        ids.add(n)  # twice: still one entry
    assert len(ids) == len(kept)
    assert all(n in ids for n in kept)
    others = {rnd.getrandbits(64) - (1 << 63) for _ in range(5000)} - kept
    assert not any(n in ids for n in others)
    assert ids.nbytes() < 16 * len(kept)  # not ~60 bytes an entry, as in a set


def session(visitor: str, touched_ms: int) -> Session:
    s = Session(1, "s", visitor, touched_ms, touched_ms, ("",) * 19, touched_ms=touched_ms)
    s.dirty = False
    return s


def test_a_visit_evicted_for_memory_is_remembered_until_it_cannot_grow() -> None:
    window = SESSION_GAP_MS
    book = SessionBook(max_open=1, window_ms=window)
    for i, v in enumerate(["a", "b"]):
        assert book.restore(session(v, T0 + i))
    book.evict(T0 - window)  # "a" was added to least recently: it goes
    assert book.to_restore([("s", "a", ""), ("s", "b", ""), ("s", "c", "")]) == {("s", "a")}
    # Two generations later nobody can add to it any more: forgotten.
    book.evict(T0 + window)
    assert book.was_evicted("s", "a")
    book.evict(T0 + 2 * window)
    assert not book.was_evicted("s", "a")


def test_restore_never_replaces_an_open_visit() -> None:
    book = SessionBook()
    assert book.restore(session("a", T0 + 5))
    assert not book.restore(session("a", T0))
    assert book.peek("s", "a") is not None
    assert book.peek("s", "a").touched_ms == T0 + 5  # type: ignore[union-attr]


def test_spilled_marks_are_asked_back_for_their_visitors_only() -> None:
    agg = Aggregation(tz_of={"s": "UTC"})
    first = [rec(T0, visitor="00000000000000a1", path="/x")]
    for key in agg.marks_needed(first):
        agg.load_marks(*key, set())
    agg.add(1, first[0])
    spilled = agg.marks_to_spill()
    marks = {m for _, ms_ in spilled for m in ms_}
    agg.marks_spilled(spilled)
    assert all(not s for s in agg.seen.values())  # moved out, buckets still loaded
    again = rec(T0 + 60_000, visitor="00000000000000a1", path="/x")
    new = rec(T0 + 60_000, visitor="00000000000000b2", path="/x")
    asked = agg.cold_marks([again, new])
    hour, day = buckets(T0, "UTC")
    assert set(asked) == {("s", HOUR, hour), ("s", DAY, day)}
    wanted = set().union(*asked.values())
    assert marks <= wanted  # everything the visitor has on disk is asked for
    for key, m in asked.items():
        agg.load_cold(key, m & marks)  # what the store would answer
    agg.add(2, again)
    agg.add(3, new)
    batch = agg.take()
    hour_rows = batch.buckets[("s", HOUR, hour)]
    assert hour_rows[SITE_PAIR][V_VISITORS] == 2  # in the hour: a1 once, and b2
