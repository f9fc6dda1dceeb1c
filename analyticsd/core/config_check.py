"""Every problem of a configuration file in one pass, for `analyticsd check-config`.

`config.parse_toml` stops at the first problem, which is what loading needs.
An operator fixing a file wants the whole list, so this walks the document
against the declared sections: each key is decoded on its own (unknown keys,
wrong types and broken field rules each give a line), list items one by one,
and then, on what remains valid, every cross-field check on its own. The
lines are worded exactly as `parse_toml` words the same problem.

Invariant: no line holds a secret value (tokens, Redis passwords): the
messages come from the same translators, which never show those.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from analyticsd.core.config import (
    CROSS_FIELD_CHECKS,
    Config,
    _translate,
    _validate_sites,
    _validate_tokens,
)
from analyticsd.core.errors import ConfigError

_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]+)`")


def problems(text: str | bytes) -> list[str]:
    """`key.path: what is wrong` for every problem found; empty when the file loads."""
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError as e:
        return [f"not valid TOML: {e}"]
    found: list[str] = []
    kept_items: dict[str, list[int]] = {}
    cleaned = _walk(raw, Config, "", found, kept_items)
    if cleaned is None:
        return found
    try:
        cfg = msgspec.convert(cleaned, Config)
    except msgspec.ValidationError as e:  # a shape the walk does not know
        return [*found, str(_translate(e, cleaned))]
    broken = [_key(line) for line in found]
    for line in _cross_field(cfg):
        # Checked without the broken values: what a check says about a key
        # above or below one of them may be a consequence (a site dropped
        # for its bad id leaves "at least one site" behind).
        key = _original_key(_key(line), kept_items)
        shown = key + line[len(_key(line)) :]
        if not any(key.startswith(b) or b.startswith(key) for b in broken) and shown not in found:
            found.append(shown)
    return found


def _cross_field(cfg: Config) -> list[str]:
    """Each check's first problem, and each site's and token's first own one
    (a check stops at its first; the second bad site would wait for the
    next run otherwise)."""
    out: list[str] = []
    for check in CROSS_FIELD_CHECKS:
        try:
            check(cfg)
        except ConfigError as e:
            out.append(str(e))
    per_item: list[tuple[str, list[Callable[[], None]]]] = [
        ("sites", [partial(_validate_sites, (site,)) for site in cfg.sites]),
        (
            "api.tokens",
            [
                partial(_validate_tokens, (token,), {s.id for s in cfg.sites})
                for token in cfg.api.tokens
            ],
        ),
    ]
    for key, checks in per_item:
        for i, check_one in enumerate(checks):
            try:
                check_one()
            except ConfigError as e:
                line = str(e)
                if line.startswith(f"{key}[0]"):
                    line = f"{key}[{i}]{line[len(key) + 3 :]}"
                if line not in out:
                    out.append(line)
    return out


_STEP = re.compile(r"(?P<name>[^.\[\]]+)|\[(?P<index>\d+)\]")


def _original_key(key: str, kept_items: dict[str, list[int]]) -> str:
    """A key path of the cleaned document (invalid list items left out) as a
    path of the file: `sites[0]` is `sites[1]` when the first site was dropped."""
    out = ""
    for m in _STEP.finditer(key):
        if m.group("name") is not None:
            out = _join(out, m.group("name"))
        else:
            n = int(m.group("index"))
            kept = kept_items.get(out)
            out += f"[{kept[n] if kept is not None and n < len(kept) else n}]"
    return out


def _key(line: str) -> str:
    return line.partition(":")[0]


def _join(prefix: str, rel: str) -> str:
    if not prefix:
        return rel
    return f"{prefix}{rel}" if rel.startswith("[") else f"{prefix}.{rel}"


def _walk(
    raw: Any,
    struct: type[msgspec.Struct],
    path: str,
    found: list[str],
    kept_items: dict[str, list[int]],
) -> Any:
    """`raw` without its invalid keys (problems appended to `found`); None if
    what remains cannot make a `struct` (a required key is missing or invalid)."""
    if not isinstance(raw, dict):
        return _decode_whole(raw, struct, path, found)
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    kept: dict[str, Any] = {}
    complete = True
    for key, value in raw.items():
        field = fields.get(key)
        if field is None:
            found.append(f"{_join(path, key)}: unknown key")
            continue
        ok, cleaned = _field(struct, key, value, field.type, _join(path, key), found, kept_items)
        if ok:
            kept[key] = cleaned
        elif field.required:
            complete = False
    for key, field in fields.items():
        if field.required and key not in raw:
            found.append(f"{path or '(top level)'}: Object missing required field `{key}`")
            complete = False
    return kept if complete else None


def _field(
    struct: type[msgspec.Struct],
    key: str,
    value: Any,
    ftype: Any,
    path: str,
    found: list[str],
    kept_items: dict[str, list[int]],
) -> tuple[bool, Any]:
    """Check one key's value; (valid enough to keep, the value to keep)."""
    inner = _struct_of(ftype)
    if inner is not None and isinstance(value, dict):
        cleaned = _walk(value, inner, path, found, kept_items)
        return cleaned is not None, cleaned
    item = _item_struct_of(ftype)
    if item is not None and isinstance(value, list):
        items = [_walk(v, item, f"{path}[{i}]", found, kept_items) for i, v in enumerate(value)]
        kept_items[path] = [i for i, v in enumerate(items) if v is not None]
        kept = [v for v in items if v is not None]
        if len(kept) == len(items):
            # The whole list once more, for rules on the list itself (lengths).
            return _decode_key(struct, key, kept, path, found), kept
        # The valid items stay, so the checks across fields still see them.
        return True, kept
    return _decode_key(struct, key, value, path, found), value


def _decode_key(
    struct: type[msgspec.Struct], key: str, value: Any, path: str, found: list[str]
) -> bool:
    """Decode `{key: value}` as `struct`: the key's own rules, worded as loading words them."""
    try:
        msgspec.convert({key: value}, struct)
    except msgspec.ValidationError as e:
        if _MISSING.match(str(e)):
            return True  # other keys' absence is reported once, by the walk
        rel = str(_translate(e, {key: value}, root=struct))
        found.append(_join(path[: len(path) - len(key)].rstrip("."), rel))
        return False
    return True


def _decode_whole(raw: Any, struct: type[msgspec.Struct], path: str, found: list[str]) -> Any:
    try:
        msgspec.convert(raw, struct)
    except msgspec.ValidationError as e:
        rel = str(_translate(e, raw, root=struct))
        found.append(f"{path or '(top level)'}{rel.removeprefix('(top level)')}")
        return None
    return raw


def _struct_of(t: Any) -> type[msgspec.Struct] | None:
    return t if isinstance(t, type) and issubclass(t, msgspec.Struct) else None


def _item_struct_of(t: Any) -> type[msgspec.Struct] | None:
    if typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    args = typing.get_args(t)
    if typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _struct_of(args[0])
    return None


_STORAGE = re.compile(r"^\s*\[\s*storage\s*\]\s*(?:#.*)?$")
_TABLE = re.compile(r"^\s*\[")
_DATA_DIR = re.compile(r"""^\s*data_dir\s*=\s*(?:"(?P<basic>[^"\\]*)"|'(?P<literal>[^']*)')""")


def salvage_data_dir(text: str | bytes) -> str | None:
    """`storage.data_dir` of a file that does not load, if it can still be read.

    `status` and `reload` find the running daemon through its data dir; a
    bad edit elsewhere in the file must not hide it. A document that parses
    gives the key as written; one that does not is scanned line by line for
    a plain `data_dir = "..."` under `[storage]`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError:
        return _scan_data_dir(text)
    storage = raw.get("storage") if isinstance(raw, dict) else None
    value = storage.get("data_dir") if isinstance(storage, dict) else None
    if value is None and isinstance(storage, dict | None):
        return Config().storage.data_dir
    return value if isinstance(value, str) and value else None


def _scan_data_dir(text: str) -> str | None:
    in_storage = False
    for line in text.splitlines():
        if _TABLE.match(line):
            in_storage = bool(_STORAGE.match(line))
        elif in_storage and (m := _DATA_DIR.match(line)):
            return m.group("basic") if m.group("basic") is not None else m.group("literal")
    return None
