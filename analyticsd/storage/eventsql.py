"""SQL fragments of the per-event engine: filters, groups, custom metrics.

Values always travel as parameters; the only text built into SQL is column
names and JSON paths made from property names the query parser accepted
(no quotes, backslashes or control characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from analyticsd.core.aggregate import GOAL, PAGE, PROP
from analyticsd.core.answers import percentile
from analyticsd.core.dimensions import EMPTY_LABELS, NO_PROP
from analyticsd.core.query import CustomMetric, Filter, Prop, prop_of, stored_value
from analyticsd.storage.dialect import SQLITE, Dialect


def glob(value: str) -> str:
    """Our `*` wildcard as a SQLite GLOB pattern (other GLOB syntax literal)."""
    return "".join("[" + c + "]" if c in "[]?" else c for c in value)


def prop_value_sql(name: str, d: Dialect = SQLITE) -> tuple[str, list[object]]:
    path = f'$."{name}"'
    return d.prop_text("?"), d.prop_text_params(path)


def match_sql(
    column: str,
    column_params: list[object],
    f: Filter,
    joined: bool,
    is_prop: bool = False,
    d: Dialect = SQLITE,
) -> tuple[str, list[object]]:
    """`f`'s test on a column; for a custom property (`is_prop`) "(none)"
    matches the events without it (a negated filter then keeps only those
    with it, as Plausible's)."""
    col = f"substr({column}, instr({column}, {d.sep(31)}) + 1)" if joined else column
    parts, params = [], []
    for v in f.values:
        if is_prop and v == NO_PROP:
            parts.append(f"coalesce({col}, '') = ''")
            params += column_params
        elif "*" in v:
            parts.append(f"{col} GLOB ?")
            params += [*column_params, glob(v)]
        else:
            parts.append(f"{col} = ?")
            params += [*column_params, v]
    sql = "(" + " OR ".join(parts) + ")"
    if f.negate:
        sql = f"NOT coalesce({sql}, 0)"
    return sql, params


def filter_sql(
    filters: Sequence[Filter], d: Dialect = SQLITE
) -> tuple[str, list[object], str, list[object]]:
    ev, vis = "", ""
    ev_p: list[object] = []
    vis_p: list[object] = []
    for f in filters:
        prop = prop_of(f.prop, "filters")
        if prop.dim == GOAL:
            marks = ",".join("?" * len(f.values))
            ev += f" AND {d.any_goal(f'value IN ({marks})')}"
            ev_p += list(f.values)
        elif prop.dim == PROP:
            col, cp = prop_value_sql(prop.prop_name, d)
            sql, p = match_sql(col, cp, f, False, is_prop=True, d=d)
            ev += f" AND {sql}"
            ev_p += p
        elif prop.dim == PAGE:
            sql, p = match_sql("e.path", [], f, False, d=d)
            ev += f" AND e.name = 'pageview' AND {sql}"
            ev_p += p
        elif prop.kind == "name":
            sql, p = match_sql("e.name", [], f, False, d=d)
            ev += f" AND {sql}"
            ev_p += p
        elif prop.none:  # event:user / visit:user: values exactly as sent
            sql, p = match_sql(prop.column, [], f, False, is_prop=True, d=d)
            if needs_visit(prop.column):
                vis += f" AND {sql}"
                vis_p += p
            else:
                ev += f" AND {sql}"
                ev_p += p
        elif prop.column.startswith(DIMS_ALIAS):
            # A visit dimension: the ids of the matching combinations, a set
            # SQLite builds once from the small table (storage.visitdims),
            # instead of each event's visit joined and tested. Values as
            # stored ("(not set)" is the empty value, "organic" is "Organic Search").
            f = replace(f, values=tuple(stored_value(prop, v) for v in f.values))
            if d.duck:  # the column store's events hold their visit's dimensions
                sql, p = match_sql(d.visit_dim(prop.column), [], f, prop.joined, d=d)
                ev += f" AND e.vd IS NOT NULL AND {sql}"
            else:
                sql, p = match_sql(prop.column, [], f, prop.joined, d=d)
                ev += f" AND e.vd IN (SELECT s.id FROM visit_dims s WHERE {sql})"
            ev_p += p
        else:
            f = replace(f, values=tuple(stored_value(prop, v) for v in f.values))
            sql, p = match_sql(prop.column, [], f, prop.joined, d=d)
            vis += f" AND {sql}"
            vis_p += p
    return ev, ev_p, vis, vis_p


DIMS_ALIAS = "s.d_"  # how the parser names visit dimension columns (core.query)


def needs_visit(*sql: str) -> bool:
    """Whether these parts (groups, a filter tree, the visit filters of
    `filter_sql`; not its event filters, whose visit-dimension id sets need
    no join) read the visit, `sessions s`."""
    return any("s." in part for part in sql)


def group_sql(prop: Prop | None, d: Dialect = SQLITE) -> tuple[str, str]:
    """(group expression, extra join) for a breakdown property."""
    if prop is None:
        return "''", ""
    if prop.dim == GOAL:
        return "gj.value", d.goal_join
    if prop.dim == PROP:
        # Events without the property are Plausible's "(none)" row.
        name = prop.prop_name.replace("'", "''")
        path = f"'$.\"{name}\"'"
        return f"coalesce(nullif({d.prop_text(path)}, ''), '{NO_PROP}')", ""
    if prop.none:  # as a custom property: no user id is the "(none)" row
        return f"coalesce(nullif({prop.column}, ''), '{NO_PROP}')", ""
    if prop.dim == PAGE:
        return "CASE WHEN e.name = 'pageview' THEN e.path END", ""
    column = d.visit_dim(prop.column)
    label = EMPTY_LABELS.get(prop.dim)
    if label is not None:  # the empty value is a row of its own, under its label
        return f"(CASE {column} WHEN '' THEN '{label}' ELSE {column} END)", ""
    return column, ""


def custom_sql(m: CustomMetric, d: Dialect = SQLITE) -> tuple[str, str, list[object]]:
    """(aggregate expression, extra WHERE, params) of a custom metric's events."""
    where = ""
    params: list[object] = []
    if m.event:
        where += " AND e.name = ?"
        params.append(m.event)
    if m.page:
        where += f" AND e.name = 'pageview' AND e.path {'GLOB' if '*' in m.page else '='} ?"
        params.append(glob(m.page) if "*" in m.page else m.page)
    if m.goal:
        where += f" AND {d.any_goal('value = ?')}"
        params.append(m.goal)
    for k, v in m.props:
        col, cp = prop_value_sql(k, d)
        where += f" AND {col} = ?"
        params += [*cp, v]
    if m.type == "count":
        return "count(*)", where, params
    if m.type == "distinct":
        target = {
            "visitor": "e.visitor",
            "session": "e.session",
            "user": "e.user_id",
        }.get(m.of)
        if target is None:
            name = m.of[len("props.") :].replace("'", "''")
            target = d.prop_raw(f"'$.\"{name}\"'")
        return f"count(DISTINCT {target})", where, params
    if m.field == "revenue":
        value = "e.revenue_micros / 1e6"  # a double in both dialects (DuckDB: no DECIMAL)
        where += " AND e.revenue_micros IS NOT NULL"
    else:
        name = m.field[len("props.") :].replace("'", "''")
        path = f"'$.\"{name}\"'"
        value = d.prop_number(path)
        # Events without the property, or with text in it, are not counted.
        where += f" AND {d.prop_is_number(path)}"
    if m.type == "percentile":
        # p is a number the configuration checked (0-100), not text.
        return f"{PERCENTILE}({value}, {float(m.p or 0)!r})", where, params
    return f"{m.type}({value})", where, params


# The exact percentile aggregate the query engine registers (storage.queries).
PERCENTILE = "percentile_exact"


class Percentile:
    """SQLite aggregate: the p-th percentile of a group's values, exactly.

    Linear interpolation between the closest ranks (as numpy's default and
    PostgreSQL's percentile_cont): the values sorted, rank p/100 * (n - 1),
    and between two values the weighted mean of both. p = 0 is the minimum,
    100 the maximum, 50 the median. The group's values are held while it is
    summed up: per-event rows of one group, bounded by their retention."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.p = 0.0

    def step(self, value: float | None, p: float) -> None:
        if value is not None:
            self.values.append(value)
            self.p = p

    def finalize(self) -> float | None:
        return percentile(self.values, self.p)


def builtin_sql(name: str) -> tuple[str, str, list[object]]:
    """Ratio operands that are built-in event counts."""
    no: list[object] = []
    return {
        "visitors": ("count(DISTINCT e.visitor)", "", no),
        "visits": ("count(DISTINCT e.session)", "", no),
        "pageviews": ("sum(e.name = 'pageview')", "", no),
        "events": ("count(*)", "", no),
    }[name]
