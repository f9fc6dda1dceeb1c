"""The few SQL spellings that differ between SQLite and DuckDB.

Per-event questions are built once (storage.eventsql, treesql, localtime,
actor_sql) and run on either engine: SQLite's `events` table or the column
store's copy of it (storage.columnstore). Everything else in those
statements is SQL both read the same way; what differs is here:

* custom properties are JSON text in both, but SQLite's `json_type` names
  types `'true'`/`'text'`, DuckDB's `'BOOLEAN'`/`'VARCHAR'`;
* goals are a JSON array in SQLite and a `VARCHAR[]` list in DuckDB (read
  without parsing JSON per event);
* the column store names SQLite's rowid `rid`, has no `strftime` on
  epoch seconds, and its events carry their visit's dimensions (`e.d_...`,
  SQLite's are in `visit_dims`, by id).

Integer division (`/` of two integers) is SQLite's; the column store's
connections set DuckDB's `integer_division` so the same text means the same.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str

    @property
    def duck(self) -> bool:
        return self.name == "duckdb"

    @property
    def rowid(self) -> str:
        """The event row's id (the order of events with the same time)."""
        return "e.rid" if self.duck else "e.rowid"

    def visit_dim(self, column: str) -> str:
        """A visit dimension's column (`s.d_...` of the visit): the column
        store's events carry their visit's dimensions, read without a join."""
        if self.duck and column.startswith("s.d_"):
            return "e." + column[2:]
        return column

    def visits(self, *sql: str) -> str:
        """The visits to join as `s` for statements made of these parts:
        `sessions` (visits with their dimensions) where a part reads a
        dimension, else, in the column store, `visits` alone (DuckDB would
        join the dimensions anyway)."""
        if self.duck and not any("s.d_" in part for part in sql):
            return "visits"
        return "sessions"

    def sep(self, code: int) -> str:
        """A one-character string of this code point."""
        return f"chr({code})" if self.duck else f"char({code})"

    def prop_text(self, path: str) -> str:
        """A custom property's value as text (true/false as such); `path` is
        SQL for its JSON path (a `?` or a quoted literal)."""
        if self.duck:
            return f"json_extract_string(e.props, {path})"
        return (
            f"(CASE json_type(e.props, {path}) WHEN 'true' THEN 'true' "
            f"WHEN 'false' THEN 'false' ELSE CAST(json_extract(e.props, {path}) AS TEXT) END)"
        )

    def prop_text_params(self, path: str) -> list[object]:
        """The parameters prop_text("?") takes for this JSON path."""
        return [path] if self.duck else [path, path]

    def prop_number(self, path: str) -> str:
        """A custom property's numeric value (path: a quoted literal)."""
        if self.duck:
            return f"CAST(json_extract_string(e.props, {path}) AS DOUBLE)"
        return f"json_extract(e.props, {path})"

    def prop_is_number(self, path: str) -> str:
        if self.duck:
            return f"json_type(e.props, {path}) IN ('UBIGINT', 'BIGINT', 'DOUBLE')"
        return f"json_type(e.props, {path}) IN ('integer', 'real')"

    def prop_raw(self, path: str) -> str:
        """A property's JSON value, for counting distinct values."""
        if self.duck:
            return f"json_extract(e.props, {path})::VARCHAR"
        return f"json_extract(e.props, {path})"

    def any_goal(self, cond: str) -> str:
        """Whether any of the event's goals satisfies `cond` (on `value`)."""
        if self.duck:
            return f"EXISTS (SELECT 1 FROM unnest(e.goals) AS g(value) WHERE {cond})"
        return f"EXISTS (SELECT 1 FROM json_each(e.goals) WHERE {cond})"

    @property
    def goal_join(self) -> str:
        """A join giving each of the event's goals as `gj.value`."""
        if self.duck:
            return "JOIN unnest(e.goals) AS gj(value) ON true"
        return "JOIN json_each(e.goals) gj"

    def month(self, local_ms: str) -> str:
        """year * 12 + month - 1 of a local time in milliseconds."""
        if self.duck:
            ts = f"epoch_ms(CAST({local_ms} AS BIGINT))"
            return f"(year({ts}) * 12 + month({ts}) - 1)"
        return (
            f"(CAST(strftime('%Y', {local_ms} / 1000, 'unixepoch') AS INTEGER) * 12"
            f" + CAST(strftime('%m', {local_ms} / 1000, 'unixepoch') AS INTEGER) - 1)"
        )


SQLITE = Dialect("sqlite")
DUCKDB = Dialect("duckdb")
