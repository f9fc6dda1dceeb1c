"""Visit dimensions stored once per distinct combination (`visit_dims`).

A visit's 19 dimension values (source, UTM, browser, OS, country, region,
city, ...) repeat across thousands of visits: on the benchmark fixture
79,000 visits had 22,000 distinct combinations, and the values were most of
a visit's ~450 bytes. Visits (`visits`) and per-event rows (`events.vd`)
hold the combination's id instead. The `sessions` view joins them back, so
readers see the columns they always did; per-event questions filter on a
visit dimension with `e.vd IN (ids whose values match)`, a set computed
once per question from the small table, instead of joining every event to
its visit.

Ids are written in the flush's transaction; the ids a failed flush created
are forgotten with it (`rollback`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from analyticsd.core.dimensions import SESSION_DIMS

DIM_COLUMNS = tuple("d_" + name.split(":", 1)[1] for _, name in SESSION_DIMS)
VISIT_COLUMNS = (
    "id, site, visitor, alias, start_ms, end_ms, start_hour, start_day, entry, entry_ms, "
    "exit, exit_ms, pageviews, events, conversions, touched_ms, first_visits"
)
_DIMS = ", ".join(DIM_COLUMNS)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS visit_dims (
    id INTEGER PRIMARY KEY, {", ".join(f"{c} TEXT NOT NULL" for c in DIM_COLUMNS)},
    UNIQUE ({_DIMS}));
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY, site TEXT NOT NULL, visitor INTEGER NOT NULL,
    alias INTEGER, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
    start_hour INTEGER NOT NULL, start_day INTEGER NOT NULL,
    entry TEXT NOT NULL, entry_ms INTEGER NOT NULL, exit TEXT NOT NULL, exit_ms INTEGER NOT NULL,
    pageviews INTEGER NOT NULL, events INTEGER NOT NULL, conversions INTEGER NOT NULL,
    touched_ms INTEGER NOT NULL, first_visits INTEGER NOT NULL, vd INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS visits_touched ON visits(touched_ms);
CREATE INDEX IF NOT EXISTS visits_visitor ON visits(site, visitor);
CREATE INDEX IF NOT EXISTS visits_alias ON visits(site, alias) WHERE alias IS NOT NULL;
"""
_VIEW = (
    f"CREATE VIEW IF NOT EXISTS sessions AS SELECT x.*, {', '.join(f'v.{c}' for c in DIM_COLUMNS)} "
    "FROM visits x JOIN visit_dims v ON v.id = x.vd"
)
VISIT_INSERT = f"INSERT OR REPLACE INTO visits({VISIT_COLUMNS}, vd)"
N_VISIT_COLUMNS = 18


def migrate(c: sqlite3.Connection) -> None:
    """A database whose `sessions` is a table (one column per dimension)
    gets `visit_dims`, `visits` and `events.vd` from it, in one transaction;
    then the view. Idempotent: a database with the view is left as it is."""
    kind = c.execute("SELECT type FROM sqlite_master WHERE name = 'sessions'").fetchone()
    if kind is not None and kind[0] == "table":
        c.execute("BEGIN IMMEDIATE")
        try:
            cols = {r[1] for r in c.execute("PRAGMA table_info(events)")}
            if "vd" not in cols:
                c.execute("ALTER TABLE events ADD COLUMN vd INTEGER")
            c.execute(
                f"INSERT OR IGNORE INTO visit_dims({_DIMS}) SELECT DISTINCT {_DIMS} FROM sessions"
            )
            same = " AND ".join(f"v.{d} = s.{d}" for d in DIM_COLUMNS)
            c.execute(
                f"INSERT INTO visits({VISIT_COLUMNS}, vd) SELECT "
                f"{', '.join(f's.{k.strip()}' for k in VISIT_COLUMNS.split(','))}, v.id "
                f"FROM sessions s JOIN visit_dims v ON {same}"
            )
            c.execute("UPDATE events SET vd = (SELECT vd FROM visits WHERE id = events.session)")
            c.execute("DROP TABLE sessions")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
    c.execute(_VIEW)


class VisitDims:
    """The ids of dimension combinations, cached (the write connection's)."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, ...], int] = {}
        self._new: dict[tuple[str, ...], int] = {}

    def ids(
        self, c: sqlite3.Connection, combos: Iterable[tuple[str, ...]]
    ) -> dict[tuple[str, ...], int]:
        """The id of each combination, new ones inserted (inside the caller's
        transaction)."""
        out: dict[tuple[str, ...], int] = {}
        marks = ",".join("?" * len(DIM_COLUMNS))
        for combo in combos:
            if combo in out:
                continue
            vd = self.known.get(combo) or self._new.get(combo)
            if vd is None:
                row = c.execute(
                    f"SELECT id FROM visit_dims WHERE ({_DIMS}) = ({marks})", combo
                ).fetchone()
                if row is not None:
                    vd = self.known[combo] = int(row[0])
                else:
                    cur = c.execute(f"INSERT INTO visit_dims({_DIMS}) VALUES ({marks})", combo)
                    vd = self._new[combo] = int(cur.lastrowid or 0)
            out[combo] = vd
        return out

    def committed(self) -> None:
        self.known.update(self._new)
        self._new.clear()

    def rollback(self) -> None:
        self._new.clear()

    def prune(self, c: sqlite3.Connection) -> None:
        """Combinations no visit or event holds any more go (after a prune)."""
        c.execute(
            "DELETE FROM visit_dims WHERE id NOT IN (SELECT vd FROM visits) "
            "AND id NOT IN (SELECT vd FROM events WHERE vd IS NOT NULL)"
        )
        self.known.clear()


def event_vds(c: sqlite3.Connection, sids: Iterable[int], vd_of: dict[int, int]) -> dict[int, int]:
    """The combination ids of visits not in this batch, read from `visits`."""
    missing = sorted({sid for sid in sids if sid not in vd_of})
    for i in range(0, len(missing), 500):
        part = missing[i : i + 500]
        marks = ",".join("?" * len(part))
        for sid, vd in c.execute(f"SELECT id, vd FROM visits WHERE id IN ({marks})", part):
            vd_of[int(sid)] = int(vd)
    return vd_of
