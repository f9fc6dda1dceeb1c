"""SQL of Stats API v2 queries on per-event rows: filter trees and grouping
by several dimensions.

Values travel as parameters; the SQL text holds only column names and JSON
paths of property names the parser accepted (see eventsql). `matches` uses
a `regexp(pattern, value)` function the query engine registers on its
connection (RE2, unanchored, as Plausible's `match` in ClickHouse).
"""

from __future__ import annotations

from analyticsd.core.aggregate import GOAL, PAGE, PROP
from analyticsd.core.dimensions import NO_PROP
from analyticsd.core.query import Prop, Query, prop_of, stored_value
from analyticsd.core.v2answer import GROUP_SEP
from analyticsd.core.v2filters import Branch, Expr, Leaf, Not, compile_pattern
from analyticsd.storage.dialect import SQLITE, Dialect
from analyticsd.storage.eventsql import group_sql, prop_value_sql


def regexp(pattern: str | None, value: object) -> int:
    """SQLite's `regexp(pattern, value)`: 1 if the pattern occurs in the value.

    A leading "(?i)" (see _cond) asks for case-insensitive matching."""
    if pattern is None or value is None:
        return 0
    case_sensitive = not pattern.startswith("(?i)")
    body = pattern if case_sensitive else pattern[4:]
    return int(compile_pattern(body, case_sensitive).search(str(value)) is not None)


def _cond(
    col: str, col_params: list[object], leaf: Leaf, prop: Prop | None = None
) -> tuple[str, list[object]]:
    """The leaf's test on one column (negation applied by the caller).

    `is` compares with the value the rows hold (core.query.stored_value:
    "(not set)" is the empty value); on a custom property (or a user id)
    "(none)" is the events without it."""
    lower = not leaf.case_sensitive
    target = f"lower({col})" if lower else col
    parts: list[str] = []
    params: list[object] = []
    for v in leaf.values:
        if leaf.kind == "is" and prop is not None:
            if (prop.dim == PROP or prop.none) and v == NO_PROP:
                parts.append(f"coalesce({col}, '') = ''")
                params += col_params
                continue
            v = stored_value(prop, v)
        value = v.lower() if lower and leaf.kind != "matches" else v
        if leaf.kind == "is":
            parts.append(f"{target} = ?")
        elif leaf.kind == "contains":
            parts.append(f"instr({target}, ?) > 0")
        else:
            parts.append(f"regexp(?, {col})")
            value = f"(?i){v}" if lower else v
            params += [value, *col_params]
            continue
        params += [*col_params, value]
    return "(" + " OR ".join(parts) + ")", params


def _leaf_sql(leaf: Leaf, d: Dialect) -> tuple[str, list[object]]:
    prop = prop_of(leaf.dim, "filters")
    if prop.dim == GOAL:
        cond, params = _cond("value", [], leaf)
        sql = d.any_goal(cond)
        return (f"NOT {sql}" if leaf.negated else sql), params
    if prop.dim == PROP:
        col, col_params = prop_value_sql(prop.prop_name, d)
    elif prop.dim == PAGE:
        col, col_params = "e.path", []
    elif prop.joined:
        col, col_params = f"substr({prop.column}, instr({prop.column}, {d.sep(31)}) + 1)", []
    else:
        col, col_params = prop.column, []
    cond, params = _cond(col, col_params, leaf, prop)
    if leaf.negated:
        cond = f"NOT coalesce({cond}, 0)"
        if (prop.dim == PROP or prop.none) and leaf.kind != "is":
            # As Plausible: contains_not / matches_not need the property;
            # is_not keeps the events without it unless it lists "(none)".
            cond = f"({col} IS NOT NULL AND {cond})"
            params = [*col_params, *params]
    if prop.dim == PAGE:  # pages are those of page views, as v1's filters
        cond = f"(e.name = 'pageview' AND {cond})"
    return cond, params


def tree_sql(e: Expr, d: Dialect = SQLITE) -> tuple[str, list[object]]:
    """A boolean SQL expression over `e` (events) and `s` (their visits)."""
    if isinstance(e, Leaf):
        return _leaf_sql(e, d)
    if isinstance(e, Not):
        sql, params = tree_sql(e.child, d)
        return f"NOT coalesce({sql}, 0)", params
    assert isinstance(e, Branch)
    parts = [tree_sql(c, d) for c in e.children]
    joiner = " OR " if e.op == "or" else " AND "
    return "(" + joiner.join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]


def groups_sql(q: Query, d: Dialect = SQLITE) -> tuple[str, str]:
    """(group expression, extra joins) for a query's dimension(s): several
    dimensions are one key, their values joined by GROUP_SEP (NULL when one
    of them is missing, so such events make no row)."""
    if not q.dims:
        return group_sql(prop_of(q.prop, "property") if q.prop else None, d)
    exprs, joins = [], []
    for name in q.dims:
        expr, join = group_sql(prop_of(name, "dimensions"), d)
        exprs.append(f"nullif({expr}, '')")
        if join:
            joins.append(join)
    return f" || {d.sep(ord(GROUP_SEP))} || ".join(exprs), " ".join(joins)


def dim_props(q: Query) -> list[Prop]:
    return [prop_of(n, "dimensions") for n in (q.dims or ((q.prop,) if q.prop else ()))]
