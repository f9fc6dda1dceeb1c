from __future__ import annotations

from pathlib import Path

from analyticsd.storage.spill import FILENAME, SpillStore

A, B = ("s", 1, 100), ("s", 2, 4)


def test_marks_are_found_per_bucket_and_dropped_with_it(tmp_path: Path) -> None:
    store = SpillStore(str(tmp_path))
    assert store.present(A, {1, 2}) == set()  # nothing stored, no file made
    assert not (tmp_path / FILENAME).exists()
    marks = set(range(-1000, 1000, 3)) | {(1 << 63) - 1, -(1 << 63)}
    assert store.put([(A, marks), (B, {7})]) == len(marks) + 1
    assert store.present(A, set(range(-1000, 1000))) == set(range(-1000, 1000, 3))
    assert store.present(A, {(1 << 63) - 1, 7}) == {(1 << 63) - 1}
    assert store.present(B, {7, 1}) == {7}
    store.put([(A, {1, 4})])  # again: kept once
    store.drop([A])
    assert store.present(A, marks) == set()
    assert store.present(B, {7}) == {7}
    store.close()
    assert not (tmp_path / FILENAME).exists()


def test_a_new_store_starts_empty(tmp_path: Path) -> None:
    # Marks are hashes of one process: a file left by a crash is never read.
    first = SpillStore(str(tmp_path))
    first.put([(A, {5})])
    second = SpillStore(str(tmp_path))
    second.put([(A, {6})])
    assert second.present(A, {5, 6}) == {6}
