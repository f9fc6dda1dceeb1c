"""Validation of ingest payloads (our JSON event format, SPEC §5).

Turns an untrusted decoded JSON value into a typed `IncomingEvent`, or into the
list of every problem found (one message per field, so a client fixes them all
at once). Pure: the receive time is passed in.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgspec

from analyticsd.core.errors import BodyError

PAGEVIEW = "pageview"
_PAGEVIEW_ALIASES = frozenset({"pageview", "page_view", "pageView", "page-view"})

MAX_FUTURE_SKEW_MS = 15 * 60 * 1000
# Events older than this are refused. It is shorter than the eventId dedupe
# window (see storage.spool), which is what keeps a late retry from being
# counted twice.
MAX_EVENT_AGE_MS = 7 * 24 * 3600 * 1000
MAX_PATH = 2048
MAX_STR = 256
MAX_EVENT_TYPE = 64
MAX_PROPS = 30
MAX_PROP_VALUE = 2000
MAX_REVENUE = Decimal("1e12")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_UTM_SET = frozenset(UTM_FIELDS)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MULTI_SLASH = re.compile(r"/{2,}")

PropValue = str | int | float | bool


class IncomingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A validated event as the receiver accepts it (before enrichment)."""

    site_id: str
    event_type: str
    path: str
    hostname: str
    timestamp_ms: int
    event_id: str | None
    referrer: str
    props: dict[str, PropValue]
    revenue_amount: str | None
    revenue_currency: str | None
    session_id: str | None
    user_id: str | None
    screen_width: int | None
    utm: dict[str, str]
    # The ad click id parameter on the landing URL (gclid, fbclid, ...), if any.
    click_id: str = ""


_CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "ttclid", "twclid", "li_fat_id")


def url_attribution(url: str | None, utm: dict[str, str]) -> tuple[dict[str, str], str]:
    """UTM parameters and click id from the landing URL's query string.

    Explicit `utm_*` fields win over the URL's. Values are cut to the field
    limit rather than refused: the URL is the page's, not a choice of the client.
    """
    if not url or "?" not in url:
        return utm, ""
    query = url.split("#", 1)[0].split("?", 1)[1]
    found = dict(utm)
    click = ""
    try:
        pairs = parse_qsl(query, max_num_fields=100)
    except ValueError:
        return utm, ""
    for key, value in pairs:
        if key in _UTM_SET and key not in found and value and "\x00" not in value:
            found[key] = value[:MAX_STR]
        elif not click and key in _CLICK_IDS and value:
            click = key
    return found, click


def normalise_event_type(name: str) -> str:
    return PAGEVIEW if name in _PAGEVIEW_ALIASES else name


def normalise_path(path: str) -> str:
    """Keep the path only: no query or fragment, one slash at a time, no trailing slash."""
    if (
        path.startswith("/")
        and "//" not in path
        and "?" not in path
        and "#" not in path
        and (len(path) == 1 or not path.endswith("/"))
    ):
        return path  # already normal: the common case, kept cheap
    path = path.split("#", 1)[0].split("?", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    path = _MULTI_SLASH.sub("/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


class Problems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, msg: str) -> None:
        self.messages.append(msg)


def _has_nul(value: str) -> bool:
    return "\x00" in value


def _opt_str(obj: dict[str, Any], key: str, errs: Problems, limit: int = MAX_STR) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errs.add(f"{key} must be a string")
        return None
    if len(value) > limit:
        errs.add(f"{key} must be at most {limit} characters")
        return None
    if _has_nul(value):
        errs.add(f"{key} must not contain NUL characters")
        return None
    return value


def read_timestamp(obj: dict[str, Any], now_ms: int, errs: Problems) -> int:
    raw = obj.get("timestamp")
    if raw is None:
        return now_ms
    if not isinstance(raw, str) or len(raw) > 40:
        errs.add("timestamp must be a valid ISO 8601 date string")
        return now_ms
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        errs.add("timestamp must be a valid ISO 8601 date string")
        return now_ms
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ts = int(parsed.timestamp() * 1000)
    if ts > now_ms + MAX_FUTURE_SKEW_MS:
        errs.add("timestamp must not be more than 15 minutes in the future")
    elif ts < now_ms - MAX_EVENT_AGE_MS:
        errs.add("timestamp must not be more than 7 days in the past")
    return ts


def read_event_id(obj: dict[str, Any], errs: Problems) -> str | None:
    raw = obj.get("eventId")
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        errs.add("eventId must be a UUID")
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        errs.add("eventId must be a UUID")
        return None


def read_path_and_host(obj: dict[str, Any], errs: Problems) -> tuple[str, str]:
    path = _opt_str(obj, "path", errs, MAX_PATH)
    url = _opt_str(obj, "url", errs, MAX_PATH)
    hostname = ""
    if url is not None:
        try:
            parts = urlsplit(url)
            hostname = (parts.hostname or "")[:MAX_STR]
        except ValueError:
            errs.add("url must be a valid URL")
            return "/", ""
        if path is None:
            path = parts.path or "/"
    if path is None:
        if "path" not in obj and "url" not in obj:
            errs.add("path or url is required")
        return "/", hostname
    return normalise_path(path), hostname


def read_props(obj: dict[str, Any], errs: Problems) -> dict[str, PropValue]:
    raw = obj.get("props")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errs.add("props must be an object")
        return {}
    if len(raw) > MAX_PROPS:
        errs.add(f"props must have at most {MAX_PROPS} keys")
        return {}
    out: dict[str, PropValue] = {}
    for key, value in raw.items():
        if len(key) > MAX_STR or _has_nul(key):
            errs.add("props keys must be at most 256 characters without NUL")
            return {}
        if isinstance(value, bool | str):
            if isinstance(value, str) and (len(value) > MAX_PROP_VALUE or _has_nul(value)):
                errs.add(f"props.{key} must be a string of at most {MAX_PROP_VALUE} characters")
                return {}
            out[key] = value
        elif isinstance(value, int | float):
            if not _finite_number(value):
                errs.add(f"props.{key} is out of range")
                return {}
            out[key] = value
        else:
            errs.add(f"props.{key} must be a string, number or boolean (props are flat)")
            return {}
    return out


def _finite_number(value: int | float) -> bool:
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return math.isfinite(value)


def read_revenue(obj: dict[str, Any], errs: Problems) -> tuple[str | None, str | None]:
    raw = obj.get("revenue")
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        errs.add("revenue must be an object {amount, currency}")
        return None, None
    amount, currency = raw.get("amount"), raw.get("currency")
    ok_type = isinstance(amount, int | float | str) and not isinstance(amount, bool)
    value: Decimal | None = None
    if ok_type and not (isinstance(amount, str) and len(amount) > 40):
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            value = None
    if value is None or not value.is_finite() or abs(value) > MAX_REVENUE:
        errs.add("revenue.amount must be a number between -1e12 and 1e12")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        errs.add("revenue.currency must be a 3-letter ISO 4217 code such as EUR")
        return None, None
    return (str(value) if value is not None else None), currency


def _screen_width(obj: dict[str, Any], errs: Problems) -> int | None:
    raw = obj.get("screenWidth")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100_000:
        errs.add("screenWidth must be an integer between 0 and 100000")
        return None
    return raw


def _required_str(obj: dict[str, Any], key: str, limit: int, errs: Problems) -> str:
    raw = obj.get(key)
    if raw is None or raw == "":
        errs.add(f"{key} should not be empty")
        return ""
    if not isinstance(raw, str):
        errs.add(f"{key} must be a string")
        return ""
    if len(raw) > limit or _has_nul(raw):
        errs.add(f"{key} must be at most {limit} characters without NUL")
        return ""
    return raw


# Plausible's event format: its tracker and client libraries send these
# short (or long) names; see plausible_to_native.
_PLAUSIBLE_FIELDS = {
    "n": "eventType", "name": "eventType",
    "u": "url", "url": "url",
    "r": "referrer", "referrer": "referrer",
    "w": "screenWidth", "screen_width": "screenWidth",
}  # fmt: skip
_PLAUSIBLE_PROPS = ("p", "props", "m", "meta")
_PLAUSIBLE_REVENUE = ("$", "revenue")


def is_plausible(obj: dict[str, Any]) -> bool:
    return "siteId" not in obj and ("d" in obj or "domain" in obj)


def plausible_to_native(obj: dict[str, Any], errs: Problems) -> dict[str, Any]:
    """A Plausible event (`n`, `u`, `d`, `r`, `p`, `$`, `w`) in our field names.

    `d` may list several domains (comma-separated) in Plausible; an event
    here belongs to one site, so that is refused. Props may come as an
    object or as a JSON string (older trackers); unknown keys (`h`, `i`) are
    flags of the tracker and ignored."""
    out: dict[str, Any] = {}
    domain = obj.get("d", obj.get("domain"))
    if isinstance(domain, str) and "," in domain:
        errs.add("domain must name one site (several domains in one event are not supported)")
    out["siteId"] = domain
    for key, native in _PLAUSIBLE_FIELDS.items():
        if key in obj and obj[key] is not None:
            out[native] = obj[key]
    for key in _PLAUSIBLE_PROPS:
        raw = obj.get(key)
        if isinstance(raw, str):
            try:
                raw = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                errs.add(f"{key} must be an object or a JSON object string")
                continue
        if raw is not None:
            out["props"] = raw
            break
    for key in _PLAUSIBLE_REVENUE:
        if obj.get(key) is not None:
            out["revenue"] = obj[key]
            break
    return out


def validate_event(obj: Any, now_ms: int) -> IncomingEvent | list[str]:
    """Check one decoded JSON value; returns the event or every problem found."""
    if not isinstance(obj, dict):
        return ["event must be a JSON object"]
    errs = Problems()
    if is_plausible(obj):
        obj = plausible_to_native(obj, errs)
    site_id = _required_str(obj, "siteId", MAX_STR, errs)
    event_type = normalise_event_type(_required_str(obj, "eventType", MAX_EVENT_TYPE, errs))
    path, hostname = read_path_and_host(obj, errs)
    timestamp_ms = read_timestamp(obj, now_ms, errs)
    event_id = read_event_id(obj, errs)
    # Optional fields are checked only when present: most beacons carry few,
    # and this runs for every event on the ingest path.
    referrer = (_opt_str(obj, "referrer", errs, MAX_PATH) or "") if "referrer" in obj else ""
    props = read_props(obj, errs) if "props" in obj else {}
    amount, currency = read_revenue(obj, errs) if "revenue" in obj else (None, None)
    session_id = _opt_str(obj, "sessionId", errs) if "sessionId" in obj else None
    user_id = _opt_str(obj, "userId", errs) if "userId" in obj else None
    screen_width = _screen_width(obj, errs) if "screenWidth" in obj else None
    utm: dict[str, str] = {}
    if not _UTM_SET.isdisjoint(obj):
        utm = {k: v for k in UTM_FIELDS if (v := _opt_str(obj, k, errs)) is not None}
    if errs.messages:
        return errs.messages
    url = obj.get("url")
    utm, click_id = url_attribution(url if isinstance(url, str) else None, utm)
    return IncomingEvent(
        site_id=site_id,
        event_type=event_type,
        path=path,
        hostname=hostname,
        timestamp_ms=timestamp_ms,
        event_id=event_id,
        referrer=referrer,
        props=props,
        revenue_amount=amount,
        revenue_currency=currency,
        session_id=session_id,
        user_id=user_id,
        screen_width=screen_width,
        utm=utm,
        click_id=click_id,
    )


def decode_body(body: bytes) -> Any:
    """Decode a JSON body, with a precise message for each way it can be wrong."""
    try:
        return msgspec.json.decode(body)
    except msgspec.ValidationError as e:  # e.g. a number too large for a float
        raise BodyError(f"body is not valid JSON: {e}") from e
    except msgspec.DecodeError as e:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyError("body is not valid UTF-8") from e
        raise BodyError(f"body is not valid JSON: {e}") from e
    except UnicodeDecodeError as e:  # msgspec raises it for bad bytes inside a string
        raise BodyError("body is not valid UTF-8") from e
    except RecursionError as e:
        raise BodyError("body is nested too deeply") from e
