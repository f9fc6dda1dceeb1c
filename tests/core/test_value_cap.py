"""The distinct-values cap: admission, folding into (other), additivity (pure)."""

from __future__ import annotations

from collections import defaultdict

from analyticsd.core.batch import BucketKey, Rows, new_buckets, new_rows
from analyticsd.core.buckets import DAY, HOUR
from analyticsd.core.dimensions import EXIT_PAGE, GOAL, PAGE, PROP, SEP, SITE
from analyticsd.core.value_cap import OTHER, ValueCap

DAY_N = 20_000
HOUR_N = DAY_N * 24 + 5


def rows(*values: tuple[int, str, int]) -> Rows:
    """Rows with `n` pageviews (vector slot 2) under each (dim, value)."""
    out = new_rows()
    for dim, value, n in values:
        out[(dim, value)][2] += n
    return out


def batch(*values: tuple[int, str, int]) -> defaultdict[BucketKey, Rows]:
    out = new_buckets()
    out[("s", DAY, DAY_N)] = rows(*values)
    out[("s", HOUR, HOUR_N)] = rows(*values)
    return out


def pageviews(r: Rows) -> dict[tuple[int, str], int]:
    return {p: v[2] for p, v in r.items() if any(v)}


def loaded(limit: int, *stored: tuple[int, str]) -> ValueCap:
    cap = ValueCap(limit)
    assert cap.missing(batch((PAGE, "/a", 1))) == [("s", DAY_N)]
    cap.load("s", DAY_N, stored)
    assert cap.missing(batch((PAGE, "/a", 1))) == []
    return cap


def test_values_past_the_limit_fold_into_other_in_the_day_and_its_hours() -> None:
    cap = loaded(2)
    b = batch((SITE, "", 5), (PAGE, "/a", 1), (PAGE, "/b", 1), (PAGE, "/c", 2), (PAGE, "/d", 1))
    f = cap.fold(b)
    want = {(SITE, ""): 5, (PAGE, "/a"): 1, (PAGE, "/b"): 1, (PAGE, OTHER): 3}
    assert pageviews(f.buckets[("s", DAY, DAY_N)]) == want
    assert pageviews(f.buckets[("s", HOUR, HOUR_N)]) == want
    assert f.folded_values == 2
    assert pageviews(b[("s", DAY, DAY_N)])[(PAGE, "/c")] == 2  # the batch itself is unchanged


def test_admission_is_final_and_only_after_the_commit() -> None:
    cap = loaded(1)
    first = cap.fold(batch((PAGE, "/a", 1)))
    # Not admitted yet (the flush failed, say): the same batch decides the same.
    assert cap.fold(batch((PAGE, "/b", 1))).admitted == {("s", DAY_N): [(PAGE, "/b")]}
    cap.admit(first)
    later = cap.fold(batch((PAGE, "/b", 4), (PAGE, "/a", 1)))
    assert pageviews(later.buckets[("s", DAY, DAY_N)]) == {(PAGE, "/a"): 1, (PAGE, OTHER): 4}


def test_what_the_store_holds_counts_as_admitted() -> None:
    cap = loaded(2, (SITE, ""), (PAGE, "/a"), (PAGE, "/b"), (GOAL, "Signup"))
    f = cap.fold(batch((PAGE, "/b", 1), (PAGE, "/c", 1), (GOAL, "Other goal", 1)))
    assert pageviews(f.buckets[("s", DAY, DAY_N)]) == {
        (PAGE, "/b"): 1,
        (PAGE, OTHER): 1,
        (GOAL, "Other goal"): 1,  # goals are never capped
    }


def test_each_prop_name_has_its_own_cap_and_other_row() -> None:
    cap = loaded(1)
    f = cap.fold(
        batch((PROP, f"plan{SEP}pro", 1), (PROP, f"plan{SEP}free", 1), (PROP, f"id{SEP}7", 1))
    )
    assert pageviews(f.buckets[("s", DAY, DAY_N)]) == {
        (PROP, f"plan{SEP}pro"): 1,
        (PROP, f"plan{SEP}{OTHER}"): 1,
        (PROP, f"id{SEP}7"): 1,
    }


def test_a_visit_leaving_a_folded_value_leaves_other() -> None:
    cap = loaded(1)
    cap.admit(cap.fold(batch((EXIT_PAGE, "/a", 1))))
    added = cap.fold(batch((EXIT_PAGE, "/x", 1)))  # folded: (other) +1
    cap.admit(added)
    moved = cap.fold(batch((EXIT_PAGE, "/x", -1), (EXIT_PAGE, "/a", 1)))
    assert pageviews(moved.buckets[("s", DAY, DAY_N)]) == {
        (EXIT_PAGE, OTHER): -1,
        (EXIT_PAGE, "/a"): 1,
    }


def test_no_limit_changes_nothing() -> None:
    cap = ValueCap(0)
    b = batch((PAGE, "/a", 1), (PAGE, "/b", 1))
    assert cap.missing(b) == []
    assert cap.fold(b).buckets is b


def test_engagement_rows_of_pages_past_the_cap_fold_into_other() -> None:
    cap = loaded(2, (PAGE, "/stored"))
    folded = cap.fold(batch((PAGE, "/new", 1), (PAGE, "/late", 1)))  # /new admitted, /late not
    engagement = {
        ("s", DAY, DAY_N, SITE, ""): [9, 0, 0],
        ("s", DAY, DAY_N, PAGE, "/stored"): [1, 10, 1],
        ("s", DAY, DAY_N, PAGE, "/new"): [2, 20, 1],
        ("s", HOUR, HOUR_N, PAGE, "/late"): [3, 30, 1],
        ("s", DAY, DAY_N, PAGE, "/late"): [3, 30, 1],
        ("s", DAY, DAY_N, PAGE, "/never-seen"): [4, 40, 1],
    }
    assert cap.fold_engagement(engagement, folded) == {
        ("s", DAY, DAY_N, SITE, ""): [9, 0, 0],
        ("s", DAY, DAY_N, PAGE, "/stored"): [1, 10, 1],
        ("s", DAY, DAY_N, PAGE, "/new"): [2, 20, 1],
        ("s", HOUR, HOUR_N, PAGE, OTHER): [3, 30, 1],
        ("s", DAY, DAY_N, PAGE, OTHER): [7, 70, 2],
    }
    assert ValueCap(0).fold_engagement(engagement, folded) is engagement
