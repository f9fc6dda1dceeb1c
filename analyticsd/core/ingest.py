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
from analyticsd.core.plausible_format import is_plausible, plausible_to_native
from analyticsd.core.problems import Problems

PAGEVIEW = "pageview"
# Plausible's name for the event its tracker sends when a page is left or
# hidden: scroll depth and engaged time of a page view, never an event of
# its own (not counted in events, visits or custom events).
ENGAGEMENT = "engagement"
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
# Engaged time one engagement event may add: a tab left open all day is not
# a day of reading. Plausible's tracker sends at most the time since its last
# engagement event, so real values stay well below this.
MAX_ENGAGED_MS = 30 * 60 * 1000
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_UTM_SET = frozenset(UTM_FIELDS)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# C0 controls (NUL, CR, LF, TAB, ...) and DEL: no field of an event may hold
# one. A CR/LF would reach log lines and CSV exports as a line break.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MULTI_SLASH = re.compile(r"/{2,}")

PropValue = str | int | float | bool


class IncomingEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A validated event as the receiver accepts it (before enrichment).

    Encoded without the fields still at their defaults (the engagement
    fields and the click id, absent from most events): every record in the
    spool and every stream entry holds one, and a reader of any version
    fills them in again."""

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
    # Engagement events only (see is_engagement): the page's deepest scroll
    # so far (%) and the time it was engaged with since the last one (ms).
    scroll_depth: int | None = None
    engaged_ms: int | None = None


_CLICK_IDS = ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "ttclid", "twclid", "li_fat_id")


def url_attribution(url: str | None, utm: dict[str, str]) -> tuple[dict[str, str], str]:
    """UTM parameters and click id from the landing URL's query string.

    Explicit `utm_*` fields win over the URL's. Values are cut to the field
    limit rather than refused: the URL is the page's, not a choice of the client.
    """
    # A "?" after the fragment (hash routes: `/#/cart?step=2`) is not the
    # page's query string.
    if not url or "?" not in url:
        return utm, ""
    head = url.split("#", 1)[0] if "#" in url else url
    if "?" not in head:
        return utm, ""
    query = head.split("?", 1)[1]
    found = dict(utm)
    click = ""
    try:
        pairs = parse_qsl(query, max_num_fields=100)
    except ValueError:
        return utm, ""
    for key, value in pairs:
        if key in _UTM_SET and key not in found and value and not has_control(value):
            found[key] = value[:MAX_STR]
        elif not click and key in _CLICK_IDS and value:
            click = key
    return found, click


def normalise_event_type(name: str) -> str:
    return PAGEVIEW if name in _PAGEVIEW_ALIASES else name


def normalise_path(path: str, keep_fragment: bool = False) -> str:
    """Keep the path only: no query or fragment, one slash at a time, no trailing slash.

    With `keep_fragment` (hash routing: `/#/cart` is a page of its own) the
    fragment stays, after the normalised path, as Plausible's `h: 1` does."""
    if keep_fragment and "#" in path:
        base, fragment = path.split("#", 1)
        return normalise_path(base) + "#" + fragment
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


def has_control(value: str) -> bool:
    """Whether `value` holds a C0 control character (NUL, CR, LF, ...) or DEL."""
    return _CONTROL.search(value) is not None


def is_blank(value: str) -> bool:
    """Whether `value` is empty or only whitespace."""
    return not value or value.isspace()


def is_utf8(body: bytes) -> bool:
    """Whether the whole body is UTF-8, unknown keys and values included."""
    if body.isascii():  # the common case, checked in C without decoding
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(key: str, value: Any, limit: int, errs: Problems) -> str | None:
    """`value` if it is a string `key` may hold; else None, its problem added."""
    if not isinstance(value, str):
        errs.add(
            f"{key} must be a string, not null" if value is None else f"{key} must be a string"
        )
        return None
    if len(value) > limit:
        errs.add(f"{key} must be at most {limit} characters")
        return None
    if has_control(value):
        errs.add(f"{key} must not contain control characters (NUL, CR, LF, TAB, DEL, ...)")
        return None
    return value


def _opt_str(obj: dict[str, Any], key: str, errs: Problems, limit: int = MAX_STR) -> str | None:
    """An optional string field: absent and `null` both mean "not given"."""
    value = obj.get(key)
    if value is None:
        return None
    return _text(key, value, limit, errs)


def read_timestamp(
    obj: dict[str, Any], now_ms: int, errs: Problems, max_age_ms: int = MAX_EVENT_AGE_MS
) -> int:
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
    elif ts < now_ms - max_age_ms:
        errs.add(f"timestamp must not be more than {max_age_ms // 86_400_000} days in the past")
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


def _location(obj: dict[str, Any], key: str, errs: Problems) -> str | None:
    """`path` or `url`: may be absent (one of them is enough), never `null`."""
    if key not in obj:
        return None
    return _text(key, obj[key], MAX_PATH, errs)


def read_path_and_host(
    obj: dict[str, Any], errs: Problems, hash_mode: bool = False
) -> tuple[str, str]:
    """The page's path and hostname; with `hash_mode` the URL's fragment is
    part of the path (Plausible's `h: 1`)."""
    path = _location(obj, "path", errs)
    url = _location(obj, "url", errs)
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
            if hash_mode and parts.fragment:
                path += "#" + parts.fragment
    if path is None:
        if "path" not in obj and "url" not in obj:
            errs.add("path or url is required")
        return "/", hostname
    return normalise_path(path, hash_mode), hostname


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
        problem = _prop_key_problem(key) or _prop_value_problem(key, value)
        if problem:
            errs.add(problem)
            return {}
        out[key] = value
    return out


def _prop_key_problem(key: str) -> str:
    if len(key) > MAX_STR:
        return f"props keys must be at most {MAX_STR} characters"
    if is_blank(key):
        return "props keys must not be blank"
    if has_control(key):
        return f"props key {key!r} must not contain control characters"
    return ""


def _prop_value_problem(key: str, value: Any) -> str:
    if isinstance(value, str):
        if len(value) > MAX_PROP_VALUE:
            return f"props.{key} must be a string of at most {MAX_PROP_VALUE} characters"
        if has_control(value):
            return f"props.{key} must not contain control characters"
        return ""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return "" if _finite_number(value) else f"props.{key} is out of range"
    return f"props.{key} must be a string, number or boolean (props are flat)"


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
    if value is None or not value.is_finite() or not 0 <= value <= MAX_REVENUE:
        errs.add("revenue.amount must be a finite number between 0 and 1e12")
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


_PLAUSIBLE_NAMES = {"scrollDepth": "Plausible: sd", "engagementTime": "Plausible: e, in ms"}


def _bounded_int(obj: dict[str, Any], key: str, limit: int, errs: Problems) -> int | None:
    """A whole number from 0 that is cut to `limit` (trackers round, and a
    page that grew while read can give a scroll depth over 100)."""
    raw = obj.get(key)
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**53:
        errs.add(f"{key} ({_PLAUSIBLE_NAMES[key]}) must be a whole number from 0")
        return None
    return min(raw, limit)


def read_engagement(obj: dict[str, Any], errs: Problems) -> tuple[int | None, int | None]:
    """An engagement event's scroll depth (%) and engaged time (ms)."""
    return (
        _bounded_int(obj, "scrollDepth", 100, errs),
        _bounded_int(obj, "engagementTime", MAX_ENGAGED_MS, errs),
    )


def _required_str(obj: dict[str, Any], key: str, limit: int, errs: Problems) -> str:
    """A name that must be given: absent or "" is empty, `null` or blank refused."""
    raw = obj.get(key)
    if (raw is None and key not in obj) or raw == "":
        errs.add(f"{key} should not be empty")
        return ""
    value = _text(key, raw, limit, errs)
    if value is None:
        return ""
    if is_blank(value):
        errs.add(f"{key} must not be blank")
        return ""
    return value


def validate_event(
    obj: Any, now_ms: int, max_age_ms: int = MAX_EVENT_AGE_MS
) -> IncomingEvent | list[str]:
    """Check one decoded JSON value; returns the event or every problem found.

    `max_age_ms` is lifted only by the authenticated backfill path
    (core.backfill), whose dedupe does not rely on the spool's window; the
    public beacon endpoints always use the default.

    Refused, each with a message naming the field: a wrong type; `null` for
    `siteId`, `eventType`, `path` or `url` (Plausible: `d`, `n`, `u`); a
    blank `eventType`, `siteId` or props key; a C0 control character (NUL,
    CR, LF, TAB, ...) or DEL in any string, props keys and values included;
    a revenue amount that is negative, not finite or over 1e12.

    `null` for an optional field (`referrer`, `timestamp`, `eventId`,
    `sessionId`, `userId`, `screenWidth`, `props`, `revenue`, `utm_*`;
    Plausible: `r`, `w`, `p`, `m`, `$`) means the field is not given, as if
    absent: Plausible's tracker sends `"r": null` when there is no referrer.
    A `null` props value is refused in our format (props are flat values, not
    holes); Plausible's format drops it, as Plausible does (see
    core.plausible_format).

    An `engagement` event also reads `scrollDepth` and `engagementTime`
    (Plausible: `sd`, `e`).
    """
    if not isinstance(obj, dict):
        return ["event must be a JSON object"]
    errs = Problems()
    hash_mode = False
    if is_plausible(obj):
        obj = plausible_to_native(obj, errs)
        hash_mode = obj.pop("hashMode", False) is True
    site_id = _required_str(obj, "siteId", MAX_STR, errs)
    event_type = normalise_event_type(_required_str(obj, "eventType", MAX_EVENT_TYPE, errs))
    path, hostname = read_path_and_host(obj, errs, hash_mode)
    timestamp_ms = read_timestamp(obj, now_ms, errs, max_age_ms)
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
    scroll_depth = engaged_ms = None
    if event_type == ENGAGEMENT:
        scroll_depth, engaged_ms = read_engagement(obj, errs)
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
        scroll_depth=scroll_depth,
        engaged_ms=engaged_ms,
    )


def decode_body(body: bytes) -> Any:
    """Decode a JSON body, with a precise message for each way it can be wrong.

    UTF-8 is decided for the whole body first: a bad byte in a key the
    validator ignores is refused like one in `path`."""
    if not is_utf8(body):
        raise BodyError("body is not valid UTF-8")
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
