"""Stats API v2 filters: nested JSON lists → a typed filter tree (pure).

Plausible's v2 filters are lists: a leaf `[op, dimension, [clauses], {modifiers}]`
with op one of is, is_not, contains, contains_not, matches, matches_not; and
branches `["and", [...]]`, `["or", [...]]`, `["not", filter]`. The top-level
list is an implicit AND. Messages are Plausible's, so a client written for
Plausible shows the same error text.

The tree is made of frozen, hashable dataclasses: a query holding one is a
valid cache key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import re2

from analyticsd.core.errors import QueryError
from analyticsd.core.query import PROPS

LEAF_OPS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
# Plausible's dimension names that are ours under another name, or not yet
# stored (no events carry them): filtering on them is a clear 400.
ALIASES = {"event:hostname": "visit:hostname"}
UNSUPPORTED = (
    "visit:country_name",
    "visit:region_name",
    "visit:city_name",
    "visit:entry_page_hostname",
    "visit:exit_page_hostname",
)
_MAX_CLAUSES = 100
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Leaf:
    op: str  # one of LEAF_OPS
    dim: str  # internal property name (event:page, visit:source, event:props:x)
    values: tuple[str, ...]
    case_sensitive: bool = True
    shown: str = ""  # the dimension as the request named it

    @property
    def negated(self) -> bool:
        return self.op.endswith("_not")

    @property
    def kind(self) -> str:
        """is, contains or matches (negation aside)."""
        return self.op.removesuffix("_not")


@dataclass(frozen=True)
class Branch:
    op: str  # "and", "or", or "all" (the top-level list)
    children: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    child: Expr


Expr = Leaf | Branch | Not


def show(value: Any) -> str:
    """A request fragment as Plausible's messages quote it (JSON-ish)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def dimension_name(name: Any) -> str | None:
    """The internal property of a v2 dimension name, or None if unknown."""
    if not isinstance(name, str):
        return None
    name = ALIASES.get(name, name)
    if name.startswith("event:props:"):
        return name if len(name) > len("event:props:") else None
    return name if name in PROPS else None


def parse_filters(raw: Any) -> Expr | None:
    """The top-level filter list → one expression (None: no filter)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise QueryError("filters", "Invalid filters passed.")
    children = tuple(_parse(f, 0, f"#/filters/{i}") for i, f in enumerate(raw))
    if not children:
        return None
    # "all" is the implicit AND of the top-level list: its members count as
    # top-level filters (goal filters must be there).
    return children[0] if len(children) == 1 else Branch("all", children)


def _parse(f: Any, depth: int, path: str) -> Expr:
    """One filter; `path` is its top-level JSON path, which the message for an
    unknown dimension names (as Plausible's schema check does)."""
    if depth > _MAX_DEPTH:
        raise QueryError("filters", f"Invalid filters. At most {_MAX_DEPTH} levels of nesting.")
    if not isinstance(f, list) or not f or not isinstance(f[0], str):
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    op = f[0]
    if op in ("and", "or"):
        if len(f) != 2 or not isinstance(f[1], list) or not f[1]:
            raise QueryError("filters", f"Invalid filter '{show(f)}'.")
        return Branch(op, tuple(_parse(c, depth + 1, path) for c in f[1]))
    if op == "not":
        if len(f) != 2:
            raise QueryError("filters", f"Invalid filter '{show(f)}'.")
        return Not(_parse(f[1], depth + 1, path))
    if op not in LEAF_OPS:
        raise QueryError("filters", f"Unknown operator for filter '{show(f)}'.")
    return _leaf(f, path)


def _leaf(f: list[Any], path: str) -> Leaf:
    if len(f) not in (3, 4):
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    op, dim_raw, clauses = f[0], f[1], f[2]
    if dim_raw in UNSUPPORTED:
        raise QueryError("filters", f"Filtering on {dim_raw} is not supported yet.")
    dim = dimension_name(dim_raw)
    if dim is None:
        raise QueryError("filters", f"{path}: Invalid filter {show(f)}")
    if not isinstance(clauses, list) or not clauses or len(clauses) > _MAX_CLAUSES:
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    if dim == "visit:city" and all(isinstance(c, int) for c in clauses):
        raise QueryError("filters", "visit:city is filtered by name here, not by GeoNames id.")
    if not all(isinstance(c, str) and 0 < len(c) <= 2000 for c in clauses):
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    if dim == "visit:country" and op in ("is", "is_not") and any(len(c) != 2 for c in clauses):
        raise QueryError(
            "filters",
            "Invalid visit:country filter, visit:country needs to be a valid "
            "2-letter country code.",
        )
    case_sensitive = _modifiers(f)
    if op.startswith("matches"):
        for c in clauses:
            try:
                compile_pattern(c, case_sensitive)
            except re2.error as e:
                detail = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
                raise QueryError(
                    "filters", f"Invalid regular expression {c!r}: {detail}."
                ) from None
    return Leaf(op, dim, tuple(clauses), case_sensitive, dim_raw)


@lru_cache(maxsize=256)
def compile_pattern(pattern: str, case_sensitive: bool = True) -> Any:
    """A `matches` pattern as RE2 compiles it: linear time on any value, so a
    pattern cannot stall a query (Plausible's ClickHouse uses RE2 too)."""
    opts = re2.Options()
    opts.log_errors = False  # a bad pattern is the client's 400, not a log line
    opts.case_sensitive = case_sensitive
    return re2.compile(pattern, options=opts)


def _modifiers(f: list[Any]) -> bool:
    if len(f) < 4:
        return True
    mods = f[3]
    if not isinstance(mods, dict) or not set(mods) <= {"case_sensitive"}:
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    value = mods.get("case_sensitive", True)
    if not isinstance(value, bool):
        raise QueryError("filters", f"Invalid filter '{show(f)}'.")
    return value


def leaves(e: Expr | None, depth: int = 0) -> Iterator[tuple[Leaf, int]]:
    """Every leaf with its depth (0: at the top level of the implicit AND)."""
    if e is None:
        return
    if isinstance(e, Leaf):
        yield e, depth
    elif isinstance(e, Not):
        yield from leaves(e.child, depth + 1)
    elif e.op == "all":
        for c in e.children:
            yield from leaves(c, depth)
    else:
        for c in e.children:
            yield from leaves(c, depth + 1)


def without_goals(e: Expr | None) -> Expr | None:
    """The expression with its top-level goal filters removed: the visitors a
    conversion rate divides by."""
    if e is None or (isinstance(e, Leaf) and e.dim == "event:goal"):
        return None
    if isinstance(e, Branch) and e.op == "all":
        kept = tuple(c for c in e.children if not (isinstance(c, Leaf) and c.dim == "event:goal"))
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Branch("all", kept)
    return e


def retarget(e: Expr | None, old: str, new: str) -> Expr | None:
    """The expression with its leaves on dimension `old` put on `new`."""
    if e is None:
        return None
    if isinstance(e, Leaf):
        return replace(e, dim=new) if e.dim == old else e
    if isinstance(e, Not):
        return Not(retarget(e.child, old, new) or e.child)
    return Branch(e.op, tuple(retarget(c, old, new) or c for c in e.children))


def to_json(e: Expr | None) -> list[Any]:
    """The expression as the v2 answer echoes it under `query.filters`."""
    if e is None:
        return []
    if isinstance(e, Branch) and e.op == "all":
        return [_json(c) for c in e.children]
    return [_json(e)]


def _json(e: Expr) -> Any:
    if isinstance(e, Leaf):
        out: list[Any] = [e.op, e.shown or e.dim, list(e.values)]
        if not e.case_sensitive:
            out.append({"case_sensitive": False})
        return out
    if isinstance(e, Not):
        return ["not", _json(e.child)]
    return [e.op, [_json(c) for c in e.children]]
