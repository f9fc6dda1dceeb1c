"""Plausible's event format, translated to our field names (pure).

What Plausible's trackers (the classic script, `plausible-tracker` and
`@plausible-analytics/tracker` from npm) and its Events API clients send:
short or long names (`n`/`name`, `u`/`url`, `d`/`domain`, `r`/`referrer`,
`w`/`screen_width`, `p`/`props` or `m`/`meta`, `$`/`revenue`, `h`/`hashMode`,
and for engagement events `sd` and `e`). The translation keeps Plausible's
semantics where they differ from a plain rename:

* `"$": {}` (what a tagged element without a revenue attribute sends) is no
  revenue, not a malformed one; `$` may also be a JSON string.
* `h: 1` keeps the URL's fragment as part of the path (hash routing).
* Props whose value is empty, null, a list or an object are dropped, as
  Plausible drops them; props may come as a JSON string (older trackers).
* `engagement` events carry `sd` (scroll depth, %) and `e` (engaged ms).
* `i` (interactive) and `v` (tracker version) are flags of the tracker and
  ignored here.

The result goes through the same validator as our own format, so a wrong
type is still refused with a message naming our field (and Plausible's).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from analyticsd.core.problems import Problems

_FIELDS = {
    "n": "eventType", "name": "eventType",
    "u": "url", "url": "url",
    "r": "referrer", "referrer": "referrer",
    "w": "screenWidth", "screen_width": "screenWidth",
    "sd": "scrollDepth", "e": "engagementTime",
}  # fmt: skip
# Plausible's tracker sends `"r": null` when there is no referrer: null is
# "not given" for these, as for every optional field of ours.
_NULLABLE = frozenset({"referrer", "screenWidth", "scrollDepth", "engagementTime"})
_PROPS = ("m", "meta", "p", "props")
_REVENUE = ("$", "revenue")
_PROPS_SET, _REVENUE_SET = frozenset(_PROPS), frozenset(_REVENUE)


def is_plausible(obj: dict[str, Any]) -> bool:
    if "siteId" in obj:
        return False
    # Without a domain Plausible takes the URL's host: `n` and `u` alone are
    # its event too.
    return "d" in obj or "domain" in obj or ("n" in obj and "u" in obj and "eventType" not in obj)


def plausible_to_native(obj: dict[str, Any], errs: Problems) -> dict[str, Any]:
    """A Plausible event in our field names; see the module docstring.

    Without `d` the site is the URL's host, as in Plausible. `d` may list
    several domains (comma-separated) in Plausible; an event here belongs to
    one site, so that is refused."""
    out: dict[str, Any] = {}
    domain = obj.get("d", obj.get("domain"))
    if "d" not in obj and "domain" not in obj:
        domain = _host_of(obj.get("u"))
    if isinstance(domain, str) and "," in domain:
        errs.add("domain must name one site (several domains in one event are not supported)")
    if domain is not None or "d" in obj or "domain" in obj:  # else: "should not be empty"
        out["siteId"] = domain.strip() if isinstance(domain, str) else domain
    for key, native in _FIELDS.items():
        if key not in obj:
            continue
        if obj[key] is None and (native in _NULLABLE or native in out):
            continue  # a null name or url is refused, unless the other spelling gave it
        out[native] = obj[key]
    if obj.get("h", obj.get("hashMode")) in (1, True):
        out["hashMode"] = True
    # Most events carry neither: checked once here, not key by key below.
    if not _PROPS_SET.isdisjoint(obj):
        props = _props(obj, errs)
        if props is not None:
            out["props"] = props
    if not _REVENUE_SET.isdisjoint(obj):
        revenue = _revenue(obj, errs)
        if revenue is not None:
            out["revenue"] = revenue
    return out


def _host_of(url: Any) -> str | None:
    """The host of the event's URL, as Plausible takes it when `d` is absent
    (None when there is none: the validator then says the domain is missing)."""
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def _json_field(key: str, raw: Any, errs: Problems) -> Any:
    """`raw`, or the value of the JSON text it is (older trackers stringify)."""
    if not isinstance(raw, str):
        return raw
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        errs.add(f"{key} must be an object or a JSON object string")
        return None


def _props(obj: dict[str, Any], errs: Problems) -> Any:
    for key in _PROPS:
        raw = _json_field(key, obj.get(key), errs)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            return raw  # the validator names the problem
        # Plausible keeps only flat, non-empty values: a prop read from the
        # page that came out empty must not cost the whole event.
        return {
            k: v
            for k, v in raw.items()
            if v is not None and v != "" and not isinstance(v, list | dict)
        }
    return None


def _revenue(obj: dict[str, Any], errs: Problems) -> Any:
    for key in _REVENUE:
        raw = _json_field(key, obj.get(key), errs)
        if raw is None:
            continue
        # `{}` is what a tagged link or form without revenue sends: no revenue.
        return None if raw == {} else raw
    return None
