"""The one frozen configuration object, decoded once from TOML.

Invariants: unknown keys are errors naming their key path; every value is
checked at load so actors never see an invalid setting; each actor receives
only its own section.

What one value may be (a range, a choice, a pattern) is declared on its field
and checked by msgspec while decoding; `_translate` words those failures as
`key.path: what is allowed, got what`. `validate` adds the rules that look
further than one value: addresses and URLs parsed, ids unique, paths that
must not collide.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta
from msgspec import inspect as mi

from analyticsd.core.access import Grant
from analyticsd.core.errors import ConfigError
from analyticsd.core.query import STANDARD_METRICS

DEFAULT_CONFIG_PATH = "/etc/analyticsd/analyticsd.toml"
CONFIG_ENV_VAR = "ANALYTICSD_CONFIG"


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every section is immutable and rejects keys it does not know.

    msgspec hands both options down to subclasses; each still spells out
    `frozen=True` because type checkers refuse a frozen base otherwise."""


# Shapes that several keys share. A `description` is the wording of the
# error (patterns) or a note after the range (numbers).
_NonEmpty = Annotated[str, Meta(min_length=1)]
_Timeout = Annotated[float, Meta(ge=0.05, le=60)]
_Backoff = Annotated[float, Meta(ge=0.1, le=3600)]
_BatchSize = Annotated[int, Meta(ge=1, le=10_000)]
# Empty (not a page goal or step) or a path; \Z, not $, which would let "\n" through.
_Page = Annotated[str, Meta(pattern=r"^(?:/|\Z)", description="a path starting with /")]
_UrlPath = Annotated[
    str,
    Meta(
        pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,200}$",
        description="a URL path such as /js/a.js",
    ),
]
_Origin = Annotated[
    str,
    Meta(
        pattern=r"^(\*|https?://[A-Za-z0-9.\-\[\]:]+)$", description="'*' or scheme://host[:port]"
    ),
]


class ServerConfig(_Section, frozen=True):
    listen: str = "127.0.0.1:8787"
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32",)
    max_body_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 65536
    # A client must deliver a complete request (head and body) within this
    # many seconds; slow-loris connections are closed, not kept forever.
    read_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    # Idle keep-alive connections are closed after this many seconds.
    keep_alive_s: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    max_connections: Annotated[int, Meta(ge=1, le=100_000)] = 1024
    # A request's head (request line and headers) must be in within this many
    # seconds, so slow-header (slowloris) connections free their slot fast;
    # for a new connection counted from the accept. Capped by read_timeout_s.
    header_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 5.0
    # Connections one client address may hold at once. A browser opens 6-8;
    # the rest is room for a few tabs or a small NAT. Trusted proxies are exempt.
    max_connections_per_client: Annotated[int, Meta(ge=1, le=100_000)] = 64
    # A second listener for /api/health, /metrics and `analyticsd status`:
    # "unix:PATH" (relative to storage.data_dir) or a HOST:PORT. Set, the
    # public listener no longer serves those two. "" = none, as before it
    # existed, so an upgrade keeps a scrape of /metrics working.
    admin_listen: str = ""


class StorageConfig(_Section, frozen=True):
    data_dir: _NonEmpty = "var"
    spool_max_bytes: Annotated[int, Meta(ge=4096)] = 1073741824
    # Per-event rows are what unique visitors are recounted from after a
    # restart when late events (up to 7 days old) arrive, so keep 8 days.
    # 31 by default: Plausible's 30d (the 30 whole days before today) reads
    # them back to the start of the 31st day when a question needs them.
    raw_event_retention_days: Annotated[int, Meta(ge=8, le=3650)] = 31
    # Hour rollup rows (the sites' totals) are read only by unfiltered hourly
    # series (at most 31 days, and as many again for compare=previous_period):
    # they are dropped once older than this.
    hour_rollup_retention_days: Annotated[
        int, Meta(ge=0, le=36500, description="0: kept forever")
    ] = 62
    # The aggregation-runs log (`analyticsd runs`): a row per flush, up to
    # one a second on a busy site, so kept shorter than per-event rows.
    run_log_retention_days: Annotated[int, Meta(ge=1, le=3650)] = 7
    # Per-event questions read a columnar copy of the per-event rows
    # (`events.duckdb` in the data dir, built from SQLite when first needed;
    # storage.columnstore): 3-25x faster than SQLite's rows. Off, they read
    # SQLite's rows, and nothing of the column store is loaded.
    column_store: bool = True
    # What the column store may hold in memory while a question runs.
    column_memory_mb: Annotated[int, Meta(ge=48, le=1 << 20)] = 64


class AggregatorConfig(_Section, frozen=True):
    flush_interval_s: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    # Flush this long after traffic goes quiet (0: only every flush_interval_s).
    quiet_flush_s: Annotated[float, Meta(ge=0, le=3600, description="0 turns it off")] = 0.5
    # What the aggregator keeps resident (unique-visitor marks, open visits);
    # beyond it marks go to a scratch file in the data dir and idle open
    # visits are read back from SQLite when they grow. Counts stay exact.
    memory_mb: Annotated[int, Meta(ge=0, le=1 << 20, description="0: no budget")] = 16
    # Distinct values per dimension (per prop name), site and local day that
    # get rollup rows of their own; later ones add to an "(other)" row.
    max_values_per_day: Annotated[int, Meta(ge=0, le=100_000_000, description="0: no cap")] = 10_000


class _RedisStream(_Section, frozen=True):
    """A Redis stream and how long to wait for it: the edge forwards into
    one, the hub consumes one."""

    enabled: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: _NonEmpty = "analyticsd:events"
    # Longest wait between probes while the store is unreachable.
    max_backoff_s: _Backoff = 30.0


class ForwardConfig(_RedisStream, frozen=True):
    probe_interval_s: Annotated[float, Meta(ge=0.05, le=3600)] = 2.0
    # A PING or a send that takes longer than this counts as unreachable.
    timeout_s: _Timeout = 2.0
    # Entries per pipelined XADD round trip.
    batch_size: _BatchSize = 500
    # Upper bound on the forwarding rate, so a backlog drains after an outage
    # without starving live ingest and the aggregator of CPU (0: no bound).
    max_events_per_s: Annotated[int, Meta(ge=0, le=10_000_000, description="0: no bound")] = 20_000
    # Forwarded records stay in the spool until the hub confirms it has
    # committed them, or for at most this long (README "Loss detection"):
    # what Redis loses within the window is forwarded again. 0: not kept.
    retain_unconfirmed_s: Annotated[float, Meta(ge=0, le=30 * 86400)] = 3600.0
    # This edge's name in the stream's marks and the hub's confirmations;
    # empty = one made once and kept in the data dir.
    origin: Annotated[str, Meta(max_length=200)] = ""


class HubConfig(_RedisStream, frozen=True):
    group: _NonEmpty = "analyticsd-hub"
    # Consumer name within the group; empty = one kept in the data dir, so a
    # restarted hub finds its own unacknowledged entries again.
    consumer: str = ""
    # Where entries that failed max_deliveries times go, with the reason;
    # empty = the stream name + ":dead".
    dead_letter_stream: str = ""
    max_deliveries: Annotated[int, Meta(ge=1, le=1000)] = 5
    # Entries delivered but unacknowledged this long (a crashed consumer, or
    # a failure) are claimed and tried again.
    claim_idle_s: Annotated[float, Meta(ge=0.05, le=86400)] = 30.0
    # Entries per read; each batch costs one fsync of the hub's spool, so
    # large batches keep a slow disk from bounding the consume rate.
    batch_size: _BatchSize = 2000
    timeout_s: _Timeout = 5.0
    # Trim the stream after each commit (README "Stream sizing"): entries
    # every consumer group has acknowledged and older than trim_keep_s go.
    trim: bool = True
    trim_keep_s: Annotated[float, Meta(ge=0, le=30 * 86400)] = 60.0

    @property
    def dead_letters(self) -> str:
        return self.dead_letter_stream or f"{self.stream}:dead"


class SaltsConfig(_Section, frozen=True):
    """Where the edges of one deployment agree on their daily visitor salts
    (README "One visitor across edges"); empty = this daemon's own salts."""

    redis_url: str = ""
    key_prefix: _NonEmpty = "analyticsd:salt"
    timeout_s: _Timeout = 2.0


class GeoipConfig(_Section, frozen=True):
    # "" = the bundled country database, "none" = no geo, else an .mmdb path
    # used instead (storage/geoip.py).
    database: str = ""


class TrackerConfig(_Section, frozen=True):
    """Where the tracker script and its event endpoint are served. Renaming
    both is how a site keeps ad-block lists from dropping its page views."""

    script_path: _UrlPath = "/js/script.js"
    # Another path for POST /api/event (that path keeps working too).
    event_path: _UrlPath = "/api/event"


class TokenConfig(_Section, frozen=True):
    """A token that may read only some sites: `{ token = "...", sites = [...] }`."""

    token: str
    sites: tuple[str, ...] = ()


class ApiConfig(_Section, frozen=True):
    # A plain string may read every site; a table only its `sites`.
    tokens: tuple[str | TokenConfig, ...] = ()

    def grants(self) -> tuple[Grant, ...]:
        return tuple(
            Grant(t, None) if isinstance(t, str) else Grant(t.token, frozenset(t.sites))
            for t in self.tokens
        )


def link_grants(sites: tuple[SiteConfig, ...]) -> tuple[Grant, ...]:
    """What shared links and public sites grant: one site each, by session
    cookie only (never as a Bearer token)."""
    out = [
        Grant(link_token(s.id, link.secret), frozenset({s.id}), shared=True)
        for s in sites
        for link in s.shared_links
    ]
    out += [Grant(link_token(s.id, ""), frozenset({s.id}), shared=True) for s in sites if s.public]
    return tuple(out)


def link_token(site_id: str, secret: str) -> str:
    """The grant token of a shared link ("" secret: a public site)."""
    return f"shared:{site_id}:{secret}"


class GoalConfig(_Section, frozen=True):
    """A conversion goal: a custom event name, or a page path (`*` matches any run).

    `props` (Plausible's goal `custom_props`): the event must also carry every
    one of these property values; all must hold."""

    event: str = ""
    page: _Page = ""
    name: str = ""  # shown in reports; defaults to the event name or "Visit <page>"
    props: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.event or f"Visit {self.page}"


class FunnelStepConfig(_Section, frozen=True):
    """One funnel step: an event name, or a page view of `page` (`*` wildcards)."""

    name: str = ""
    event: str = ""
    page: _Page = ""
    props: dict[str, str] = msgspec.field(default_factory=dict)


class FunnelConfig(_Section, frozen=True):
    name: Annotated[str, Meta(min_length=1, max_length=120)]
    steps: Annotated[tuple[FunnelStepConfig, ...], Meta(min_length=2, max_length=20)]
    # The whole chain must fit, from step 1.
    window_s: Annotated[int, Meta(ge=1, le=90 * 86_400)] = 86_400
    # loose: other events may come between the steps; strict: none.
    order: Literal["loose", "strict"] = "loose"


_Secret = Annotated[
    str,
    Meta(
        min_length=16,
        max_length=256,
        pattern=r"^[!-~]+$",
        description="16-256 printable ASCII characters without spaces",
    ),
]


class SharedLinkConfig(_Section, frozen=True):
    """A read-only link to one site's dashboard: /share/SITE?auth=SECRET."""

    name: Annotated[str, Meta(min_length=1, max_length=120)]
    secret: _Secret
    # Asked for before the dashboard shows ("" = none).
    password: Annotated[str, Meta(max_length=256)] = ""


class SiteConfig(_Section, frozen=True):
    id: Annotated[
        str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,252}$", description="a hostname-like id")
    ]
    origins: tuple[_Origin, ...] = ()
    timezone: str = "UTC"
    goals: tuple[GoalConfig, ...] = ()
    funnels: tuple[FunnelConfig, ...] = ()
    # Its numbers may be read without a token (the dashboard at /share/ID,
    # the Stats API v1 reads and /api/stats), like a Plausible public dashboard.
    public: bool = False
    shared_links: tuple[SharedLinkConfig, ...] = ()


class MetricConfig(_Section, frozen=True):
    """A custom metric over per-event rows: which events, and what of them.

    No SQL: the events are chosen by name, page, goal and property values,
    and `type` says what to compute (count, sum, avg, min, max, percentile,
    distinct, ratio)."""

    name: Annotated[
        str,
        Meta(
            pattern=r"^[a-z][a-z0-9_]{0,63}$",
            description="lower-case letters, digits and _, from a letter",
        ),
    ]
    type: Literal["count", "sum", "avg", "min", "max", "percentile", "distinct", "ratio"]
    description: str = ""
    event: str = ""
    page: _Page = ""
    goal: str = ""
    props: dict[str, str] = msgspec.field(default_factory=dict)
    field: str = ""  # sum / avg / min / max / percentile: "revenue" or "props.NAME"
    p: float | None = None  # percentile: 0-100 (linear interpolation, see README)
    of: str = ""  # distinct: "visitor", "session", "user" or "props.NAME"
    numerator: str = ""  # ratio: two metric names (custom or events,
    denominator: str = ""  # pageviews, visitors, visits)


class Config(_Section, frozen=True):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    aggregator: AggregatorConfig = AggregatorConfig()
    forward: ForwardConfig = ForwardConfig()
    hub: HubConfig = HubConfig()
    salts: SaltsConfig = SaltsConfig()
    geoip: GeoipConfig = GeoipConfig()
    api: ApiConfig = ApiConfig()
    tracker: TrackerConfig = TrackerConfig()
    sites: tuple[SiteConfig, ...] = ()
    metrics: tuple[MetricConfig, ...] = ()

    def site(self, site_id: str) -> SiteConfig | None:
        for site in self.sites:
            if site.id == site_id:
                return site
        return None


DEMO_SITE = SiteConfig(
    id="localhost",
    origins=(
        "http://localhost",
        "http://localhost:8787",
        "http://127.0.0.1",
        "http://127.0.0.1:8787",
    ),
    timezone="UTC",
)


def embedded_default() -> Config:
    """What `analyticsd run` uses with no file: loopback, ./var, a demo site."""
    return validate(Config(sites=(DEMO_SITE,)))


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<key>[^`]+)`")
# msgspec's wording when a value has the right type but breaks its field's
# declared range, length, pattern or choices (not "Expected `int`, got ...").
_BROKEN_RULE = re.compile(r"^(Expected `[a-z]+` (?:[<>]|of length|matching)|Invalid enum value)")
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]")


def _key_path(raw: str) -> str:
    return raw.lstrip(".") or "(top level)"


def _translate(err: msgspec.ValidationError, raw: object, root: type = Config) -> ConfigError:
    """Turn msgspec's message into `key.path: what is wrong`; a broken field
    rule is worded from the field's declaration, with the value given."""
    m = _AT.match(str(err))
    assert m is not None  # the pattern matches any string
    msg, path = m.group("msg"), m.group("path") or ""
    unknown = _UNKNOWN.search(msg)
    if unknown:
        full = f"{path}.{unknown.group('key')}"
        return ConfigError(f"{_key_path(full)}: unknown key")
    rule = _rule(_type_at(mi.type_info(root), path), path) if _BROKEN_RULE.match(msg) else None
    if rule is None:
        return ConfigError(f"{_key_path(path)}: {msg}")
    value = _value_at(raw, path)
    shown = len(value) if isinstance(value, list) else repr(value)
    return ConfigError(f"{_key_path(path)}: {rule}, got {shown}")


def _type_at(t: mi.Type | None, path: str) -> mi.Type | None:
    """The declared type at a msgspec error path such as `.sites[0].id`."""
    for key, index in _STEP.findall(path):
        inner = t.type if isinstance(t, mi.Metadata) else t
        if key and isinstance(inner, mi.StructType):
            t = next((f.type for f in inner.fields if f.name == key), None)
        elif index and isinstance(inner, mi.VarTupleType):
            t = inner.item_type
        else:
            return None
    return t


def _value_at(raw: Any, path: str) -> Any:
    for key, index in _STEP.findall(path):
        raw = raw[key] if key else raw[int(index)]
    return raw


def _rule(t: mi.Type | None, path: str) -> str | None:
    """What a field's declaration allows, in words; None if it declares nothing."""
    note = ""
    if isinstance(t, mi.Metadata):
        note = (t.extra_json_schema or {}).get("description", "")
        t = t.type
    if isinstance(t, mi.LiteralType):
        return "must be one of " + ", ".join(str(v) for v in t.values)
    if isinstance(t, mi.StrType) and t.pattern:
        return f"must be {note or 'text matching ' + t.pattern}"
    if isinstance(t, mi.StrType | mi.VarTupleType):
        if t.max_length is None:
            return "must not be empty" if t.min_length == 1 else f"must have {t.min_length} or more"
        noun = "characters" if isinstance(t, mi.StrType) else path.rpartition(".")[2]
        return f"must have {t.min_length or 0} to {t.max_length} {noun}"
    if isinstance(t, mi.IntType | mi.FloatType):
        return f"{_bounds(t)} ({note})" if note else _bounds(t)
    return None


def _bounds(t: mi.IntType | mi.FloatType) -> str:
    if isinstance(t, mi.IntType) and t.gt is None and t.lt is None:
        return (
            f"must be between {t.ge} and {t.le}" if t.le is not None else f"must be at least {t.ge}"
        )
    low = f"[{t.ge}" if t.ge is not None else f"({t.gt}"
    high = f"{t.le}]" if t.le is not None else f"{t.lt})"
    return f"must be in {low}, {high}"


def parse_toml(text: str | bytes) -> Config:
    """Decode and validate a TOML document; raises ConfigError naming the key."""
    try:
        cfg = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as e:
        # The document parsed, so it decodes again untyped: that is where
        # the offending value is read from for the message.
        raise _translate(e, msgspec.toml.decode(text)) from e
    except msgspec.DecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from e
    _check_across_fields(cfg)
    return cfg


def validate(cfg: Config) -> Config:
    """Check a Config built in code (the defaults, a reload's merge) as
    strictly as `parse_toml` checks a file; returns it unchanged.

    Field declarations are only enforced while decoding, so the config
    makes a round trip through msgspec for them."""
    raw = msgspec.to_builtins(cfg)
    try:
        msgspec.convert(raw, Config)
    except msgspec.ValidationError as e:
        raise _translate(e, raw) from e
    _check_across_fields(cfg)
    return cfg


S = TypeVar("S", bound=msgspec.Struct)


def decode_section(raw: object, section: type[S]) -> S:
    """`raw` (JSON-like data) as one config struct, e.g. a funnel passed in a
    Stats API request; ConfigError names the key path as for a file."""
    try:
        return msgspec.convert(raw, section)
    except msgspec.ValidationError as e:
        raise _translate(e, raw, root=section) from e


def parse_listen(listen: str, key: str = "server.listen") -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port)."""
    host, sep, port_s = listen.rpartition(":")
    if not sep or not host or not port_s.isdigit():
        raise ConfigError(f"{key}: expected HOST:PORT, got {listen!r}")
    port = int(port_s)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{key}: port {port} out of range")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigError(f"{key}: {host!r} is not an IP address (or localhost)") from None
    return host, port


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


def _check_each(items: tuple[str, ...], key: str, ok: Callable[[str], bool], msg: str) -> None:
    for i, item in enumerate(items):
        _check(ok(item), f"{key}[{i}]", f"{msg}, got {item!r}")


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_across_fields(cfg: Config) -> None:
    """What a field declaration cannot state: values that must be parsed
    (addresses, URLs, zones) and rules across values (unique ids and names,
    references between metrics, paths that must not collide)."""
    for check in CROSS_FIELD_CHECKS:
        check(cfg)


UNIX_PREFIX = "unix:"
# sun_path holds 108 bytes, the last a NUL.
_MAX_SOCKET_PATH = 107


def admin_address(cfg: Config) -> str:
    """server.admin_listen with a relative socket path resolved against the data dir."""
    listen = cfg.server.admin_listen
    if not listen.startswith(UNIX_PREFIX):
        return listen
    path = listen[len(UNIX_PREFIX) :]
    return UNIX_PREFIX + os.path.join(cfg.storage.data_dir, path)


def _validate_admin(cfg: Config) -> None:
    listen = cfg.server.admin_listen
    if not listen:
        return
    if not listen.startswith(UNIX_PREFIX):
        _check(listen != cfg.server.listen, "server.admin_listen", "must differ from listen")
        parse_listen(listen, key="server.admin_listen")
        return
    path = admin_address(cfg)[len(UNIX_PREFIX) :]
    _check(listen != UNIX_PREFIX, "server.admin_listen", "unix: needs a socket path")
    _check(
        len(path.encode()) <= _MAX_SOCKET_PATH,
        "server.admin_listen",
        f"the socket path {path} is longer than {_MAX_SOCKET_PATH} bytes",
    )


def _validate_tokens(tokens: tuple[str | TokenConfig, ...], site_ids: set[str]) -> None:
    # A token is a secret: the message says what is wrong with it, never what it is.
    for i, entry in enumerate(tokens):
        t = entry if isinstance(entry, str) else entry.token
        if not isinstance(entry, str):
            unknown = [s for s in entry.sites if s not in site_ids]
            _check(
                bool(entry.sites) and not unknown,
                f"api.tokens[{i}].sites",
                f"{unknown[0]!r} is not a configured site" if unknown
                else "list the sites this token may read (leave the table out for all)",
            )  # fmt: skip
        _check(
            16 <= len(t) <= 256 and t.isascii() and t.isprintable() and " " not in t,
            f"api.tokens[{i}]",
            "each token must be 16-256 printable ASCII characters without spaces "
            f"(this one has {len(t)} characters; its value is not shown)",
        )


# Independent of each other, so `check-config` can run them all and list
# every problem (core/config_check.py); each raises at its first.
CROSS_FIELD_CHECKS: tuple[Callable[[Config], None], ...] = (
    lambda cfg: parse_listen(cfg.server.listen) and None,
    lambda cfg: _check_each(
        cfg.server.trusted_proxies, "server.trusted_proxies", _is_network, "expected a CIDR"
    ),
    lambda cfg: _validate_redis(cfg.forward, cfg.hub, cfg.salts),
    lambda cfg: _validate_sites(cfg.sites),
    lambda cfg: _validate_metrics(cfg.metrics),
    lambda cfg: _validate_tracker(cfg.tracker),
    lambda cfg: _validate_tokens(cfg.api.tokens, {s.id for s in cfg.sites}),
    _validate_admin,
)


def _validate_sites(sites: tuple[SiteConfig, ...]) -> None:
    _check(len(sites) > 0, "sites", "at least one [[sites]] entry is required")
    seen: set[str] = set()
    for i, site in enumerate(sites):
        key = f"sites[{i}]"
        _check(site.id not in seen, f"{key}.id", f"duplicate site id {site.id!r}")
        seen.add(site.id)
        _check(
            _is_timezone(site.timezone),
            f"{key}.timezone",
            f"unknown IANA timezone {site.timezone!r}",
        )
        _validate_goals(site, key)
        validate_funnels(site, key)
        secrets = [link.secret for link in site.shared_links]
        _check(
            len(set(secrets)) == len(secrets),
            f"{key}.shared_links",
            "two links have the same secret (each link needs its own, to be revoked alone)",
        )


# Plausible's limits of a goal's property conditions; a key or value beyond
# what ingest stores (core.ingest) could never match.
MAX_GOAL_PROPS = 3
_MAX_GOAL_PROP_KEY = 256
_MAX_GOAL_PROP_VALUE = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _validate_goals(site: SiteConfig, key: str) -> None:
    names: set[str] = set()
    conditions: dict[tuple[str, str, frozenset[tuple[str, str]]], str] = {}
    for j, goal in enumerate(site.goals):
        gkey = f"{key}.goals[{j}]"
        _check(bool(goal.event) != bool(goal.page), gkey, "set exactly one of `event` or `page`")
        _check(goal.event != "engagement", f"{gkey}.event", "'engagement' is reserved")
        _check(len(goal.display_name) <= 120, f"{gkey}.name", "at most 120 characters")
        _validate_goal_props(goal, gkey)
        hint = " (a goal with property conditions needs a `name` of its own)" if goal.props else ""
        _check(goal.display_name not in names, gkey, f"duplicate goal {goal.display_name!r}{hint}")
        names.add(goal.display_name)
        same = (goal.event, goal.page, frozenset(goal.props.items()))
        _check(
            same not in conditions,
            gkey,
            f"the same event, page and props as goal {conditions.get(same)!r}",
        )
        conditions[same] = goal.display_name


def _validate_goal_props(goal: GoalConfig, gkey: str) -> None:
    _check(
        len(goal.props) <= MAX_GOAL_PROPS,
        f"{gkey}.props",
        f"at most {MAX_GOAL_PROPS} properties per goal, got {len(goal.props)}",
    )
    for k, v in goal.props.items():
        pkey = f"{gkey}.props.{k}"
        _check(
            bool(k.strip()) and len(k) <= _MAX_GOAL_PROP_KEY and not _CONTROL.search(k),
            pkey,
            f"a property name of 1-{_MAX_GOAL_PROP_KEY} characters without control characters",
        )
        _check(
            0 < len(v) <= _MAX_GOAL_PROP_VALUE and not _CONTROL.search(v),
            pkey,
            f"a value of 1-{_MAX_GOAL_PROP_VALUE} characters without control characters",
        )


# Paths the daemon serves itself; the tracker's must not shadow them.
_RESERVED = ("/api/batch", "/api/stats", "/api/health", "/api/openapi.json", "/api/v1/", "/metrics")


def _validate_tracker(t: TrackerConfig) -> None:
    for key in ("script_path", "event_path"):
        path = getattr(t, key)
        _check(
            not any(path == r or (r.endswith("/") and path.startswith(r)) for r in _RESERVED),
            f"tracker.{key}",
            f"{path!r} is a path the daemon already serves",
        )
        _check(path not in ("/", "/login", "/logout"), f"tracker.{key}", "is the dashboard's")
        _check(not path.startswith("/dashboard/"), f"tracker.{key}", "is the dashboard's")
    _check(t.script_path != t.event_path, "tracker.event_path", "must differ from script_path")
    _check(t.script_path != "/api/event", "tracker.script_path", "is the event endpoint")


def validate_funnels(site: SiteConfig, key: str) -> None:
    names: set[str] = set()
    for i, f in enumerate(site.funnels):
        fkey = f"{key}.funnels[{i}]"
        _check(f.name not in names, f"{fkey}.name", f"duplicate funnel {f.name!r}")
        names.add(f.name)
        for j, step in enumerate(f.steps):
            skey = f"{fkey}.steps[{j}]"
            _check(bool(step.event) != bool(step.page), skey, "set exactly one of event or page")


_BUILTIN_OPERANDS = ("events", "pageviews", "visitors", "visits")
# Metric types over a number of each event (revenue or a numeric property).
_FIELD_TYPES = ("sum", "avg", "min", "max", "percentile")
_PROPS_FIELD = re.compile(r'^props\.[^"\\\x00-\x1f]{1,256}$')


def _validate_metrics(metrics: tuple[MetricConfig, ...]) -> None:
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        key = f"metrics[{i}]"
        _check(m.name not in STANDARD_METRICS, f"{key}.name", f"{m.name!r} is a built-in metric")
        _check(m.name not in seen, f"{key}.name", f"duplicate metric {m.name!r}")
        seen.add(m.name)
        _validate_metric_type(m, key, metrics)


def _validate_metric_type(m: MetricConfig, key: str, metrics: tuple[MetricConfig, ...]) -> None:
    """Which of `field`, `of`, `numerator`/`denominator` a metric takes
    depends on its `type`."""
    if m.type in _FIELD_TYPES:
        _check(
            m.field == "revenue" or bool(_PROPS_FIELD.match(m.field)),
            f"{key}.field",
            f'{m.type} needs field = "revenue" or "props.NAME"',
        )
    else:
        _check(not m.field, f"{key}.field", f"only {', '.join(_FIELD_TYPES)} take a field")
    if m.type == "percentile":
        # Checked here, not by a range in the schema: a missing p and one out
        # of range get a message saying what p is.
        _check(m.p is not None, f"{key}.p", "percentile needs p, a number from 0 to 100")
        _check(
            m.p is not None and math.isfinite(m.p) and 0 <= m.p <= 100,
            f"{key}.p",
            f"must be a number from 0 to 100 (the percentile), not {m.p}",
        )
    else:
        _check(m.p is None, f"{key}.p", "only percentile takes p")
    if m.type == "distinct":
        _check(
            m.of in ("visitor", "session", "user") or bool(_PROPS_FIELD.match(m.of)),
            f"{key}.of",
            'distinct needs of = "visitor", "session", "user" or "props.NAME"',
        )
    else:
        _check(not m.of, f"{key}.of", "only distinct takes `of`")
    if m.type != "ratio":
        _check(not (m.numerator or m.denominator), key, "only ratio takes numerator/denominator")
        return
    # Reversed so a duplicated name means its first definition, as before the
    # duplicate itself is reported.
    types = {other.name: other.type for other in reversed(metrics)}
    for side in ("numerator", "denominator"):
        operand = getattr(m, side)
        _check(
            operand in _BUILTIN_OPERANDS or types.get(operand, "ratio") != "ratio",
            f"{key}.{side}",
            f"must name a non-ratio custom metric or one of {', '.join(_BUILTIN_OPERANDS)}",
        )
    _check(
        not (m.event or m.page or m.goal or m.props),
        key,
        "a ratio takes its events from its two metrics, not filters of its own",
    )


# Query parameters the Redis client understands that make sense here (TLS
# files and checks); anything else would fail only when the actor starts.
_REDIS_QUERY = frozenset(
    {"ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
     "ssl_check_hostname", "db"}
)  # fmt: skip


_REDIS_URL = re.compile(r"^(rediss?://[^\s]+|unix://[^\s]+)$")


def _is_redis_url(url: str) -> bool:
    if not _REDIS_URL.match(url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
        query = urllib.parse.parse_qs(parts.query, strict_parsing=bool(parts.query))
    except ValueError:
        return False
    if parts.scheme == "unix":
        return bool(parts.path) and set(query) <= _REDIS_QUERY
    db = parts.path.lstrip("/")
    return (
        bool(parts.hostname)
        and (port is None or port > 0)
        and (db == "" or db.isdigit())
        and set(query) <= _REDIS_QUERY
    )


def _validate_redis(fw: ForwardConfig, hub: HubConfig, salts: SaltsConfig) -> None:
    urls = [("forward.redis_url", fw.redis_url), ("hub.redis_url", hub.redis_url)]
    if salts.redis_url:  # empty: no shared salts
        urls.append(("salts.redis_url", salts.redis_url))
    for key, url in urls:
        _check(
            _is_redis_url(url),
            key,
            "expected redis://[:password@]host[:port][/db], rediss://... or unix:///path "
            f"(query: {', '.join(sorted(_REDIS_QUERY))})",
        )
    _check(hub.dead_letters != hub.stream, "hub.dead_letter_stream", "must differ from hub.stream")
    # A hub forwarding into the stream it consumes would feed itself forever.
    _check(
        not (
            fw.enabled and hub.enabled and fw.stream == hub.stream and fw.redis_url == hub.redis_url
        ),
        "forward.stream",
        "a hub must not forward into the stream it consumes",
    )


def load(
    path: str | None,
    environ: dict[str, str],
    exists: Callable[[str], bool],
    read: Callable[[str], bytes],
) -> tuple[Config, str]:
    """Resolve which config applies (SPEC §3) and load it.

    Returns the config and a description of its source. IO is injected so the
    resolution order is testable without touching /etc.
    """
    chosen = (
        path
        or environ.get(CONFIG_ENV_VAR)
        or (DEFAULT_CONFIG_PATH if exists(DEFAULT_CONFIG_PATH) else None)
    )
    if chosen is None:
        return embedded_default(), "built-in defaults"
    try:
        raw = read(chosen)
    except OSError as e:
        raise ConfigError(f"cannot read {chosen}: {e.strerror or e}") from e
    return parse_toml(raw), chosen
