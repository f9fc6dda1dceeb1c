"""The connection table: per-client caps, trusted proxies, idle-first victims."""

from __future__ import annotations

from analyticsd.http.admission import ConnectionTable, high_water


def _table(max_connections: int = 10, per_client: int = 3) -> ConnectionTable[str]:
    return ConnectionTable(max_connections, per_client, ("10.0.0.1/32", "fd00::/64"))


def test_high_water_is_90_percent_and_at_least_one() -> None:
    assert [high_water(n) for n in (1, 2, 10, 1024)] == [1, 1, 9, 921]


def test_a_client_is_capped_and_gets_its_share_back_on_close() -> None:
    t = _table()
    assert [t.admit(f"c{i}", "192.0.2.7") for i in range(4)] == [True, True, True, False]
    assert t.admit("other", "192.0.2.8")  # the cap is per address
    t.release("c0")
    assert t.held_by("192.0.2.7") == 2
    assert t.admit("c4", "192.0.2.7")
    assert t.open == 4


def test_trusted_proxies_are_not_capped() -> None:
    t = _table()
    assert all(t.admit(f"p{i}", "10.0.0.1") for i in range(8))
    assert all(t.admit(f"q{i}", "fd00::5") for i in range(8))
    assert not all(t.admit(f"x{i}", "10.0.0.2") for i in range(8))


def test_no_victims_at_or_below_high_water() -> None:
    t = _table(per_client=100)
    for i in range(9):
        t.admit(f"c{i}", "192.0.2.1")
    assert t.victims() == []


def test_victims_are_the_longest_idle_and_never_busy() -> None:
    t = _table(per_client=100)
    for i in range(10):
        t.admit(f"c{i}", "192.0.2.1")  # idle since the accept, in accept order
    t.busy("c0")  # a request in progress: never a victim
    t.busy("c1")
    t.idle("c1")  # finished it: now the most recently idle
    for i in range(10, 12):
        t.admit(f"c{i}", "192.0.2.1")
    assert t.open == 12
    assert t.victims() == ["c2", "c3", "c4"]  # back to 9, counting those handed out
    assert t.victims() == []  # handed out once; they still count as open until closed
    t.idle("c2")  # an evicted connection that still finished a wait does not come back
    for victim in ("c2", "c3", "c4"):
        t.release(victim)
    assert t.open == 9
    assert t.victims() == []


def test_only_busy_connections_means_no_victims() -> None:
    t = _table(per_client=100)
    for i in range(10):
        t.admit(f"c{i}", "192.0.2.1")
        t.busy(f"c{i}")
    assert t.victims() == []


def test_idle_for_an_unknown_connection_is_ignored() -> None:
    t = _table()
    t.idle("never-admitted")
    for i in range(10):
        t.admit(f"c{i}", f"192.0.2.{i}")
    assert "never-admitted" not in t.victims()
