"""The one frozen configuration object, decoded once from TOML.

Invariants: unknown keys are errors naming their key path; every value is
checked at load so actors never see an invalid setting; each actor receives
only its own section.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable

import msgspec

from analyticsd.core.errors import ConfigError
from analyticsd.core.query import STANDARD_METRICS

DEFAULT_CONFIG_PATH = "/etc/analyticsd/analyticsd.toml"
CONFIG_ENV_VAR = "ANALYTICSD_CONFIG"


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    listen: str = "127.0.0.1:8787"
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32",)
    max_body_bytes: int = 65536
    # A client must deliver a complete request (head and body) within this
    # many seconds; slow-loris connections are closed, not kept forever.
    read_timeout_s: float = 10.0
    # Idle keep-alive connections are closed after this many seconds.
    keep_alive_s: float = 30.0
    max_connections: int = 1024


class StorageConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "var"
    spool_max_bytes: int = 1073741824
    raw_event_retention_days: int = 30


class AggregatorConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    flush_interval_s: float = 5.0
    # Flush this long after traffic goes quiet (0: only every flush_interval_s).
    quiet_flush_s: float = 0.5


class ForwardConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "analyticsd:events"
    probe_interval_s: float = 2.0
    # A PING or a send that takes longer than this counts as unreachable.
    timeout_s: float = 2.0
    # Entries per pipelined XADD round trip.
    batch_size: int = 500
    # Upper bound on the forwarding rate, so a backlog drains after an outage
    # without starving live ingest and the aggregator of CPU (0: no bound).
    max_events_per_s: int = 20_000
    # Longest wait between probes while the store is unreachable.
    max_backoff_s: float = 30.0


class HubConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream: str = "analyticsd:events"
    group: str = "analyticsd-hub"
    # Consumer name within the group; empty = one kept in the data dir, so a
    # restarted hub finds its own unacknowledged entries again.
    consumer: str = ""
    # Where entries that failed max_deliveries times go, with the reason;
    # empty = the stream name + ":dead".
    dead_letter_stream: str = ""
    max_deliveries: int = 5
    # Entries delivered but unacknowledged this long (a crashed consumer, or
    # a failure) are claimed and tried again.
    claim_idle_s: float = 30.0
    # Entries per read; each batch costs one fsync of the hub's spool, so
    # large batches keep a slow disk from bounding the consume rate.
    batch_size: int = 2000
    timeout_s: float = 5.0
    max_backoff_s: float = 30.0

    @property
    def dead_letters(self) -> str:
        return self.dead_letter_stream or f"{self.stream}:dead"


class GeoipConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    database: str = ""


class TrackerConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where the tracker script and its event endpoint are served. Renaming
    both is how a site keeps ad-block lists from dropping its page views."""

    script_path: str = "/js/script.js"
    # Another path for POST /api/event (that path keeps working too).
    event_path: str = "/api/event"


class ApiConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tokens: tuple[str, ...] = ()


class GoalConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A conversion goal: a custom event name, or a page path (`*` matches any run)."""

    event: str = ""
    page: str = ""
    name: str = ""  # shown in reports; defaults to the event name or "Visit <page>"

    @property
    def display_name(self) -> str:
        return self.name or self.event or f"Visit {self.page}"


class FunnelStepConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One funnel step: an event name, or a page view of `page` (`*` wildcards)."""

    name: str = ""
    event: str = ""
    page: str = ""
    props: dict[str, str] = msgspec.field(default_factory=dict)


class FunnelConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    steps: tuple[FunnelStepConfig, ...]
    window_s: int = 86_400  # the whole chain must fit, from step 1
    order: str = "loose"  # loose: other events may come between; strict: none


class SiteConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: str
    origins: tuple[str, ...] = ()
    timezone: str = "UTC"
    goals: tuple[GoalConfig, ...] = ()
    funnels: tuple[FunnelConfig, ...] = ()


class MetricConfig(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A custom metric over per-event rows: which events, and what of them.

    No SQL: the events are chosen by name, page, goal and property values,
    and `type` says what to compute (count, sum, avg, distinct, ratio)."""

    name: str
    type: str
    description: str = ""
    event: str = ""
    page: str = ""
    goal: str = ""
    props: dict[str, str] = msgspec.field(default_factory=dict)
    field: str = ""  # sum / avg: "revenue" or "props.NAME"
    of: str = ""  # distinct: "visitor", "session", "user" or "props.NAME"
    numerator: str = ""  # ratio: two metric names (custom or events,
    denominator: str = ""  # pageviews, visitors, visits)


class Config(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    aggregator: AggregatorConfig = AggregatorConfig()
    forward: ForwardConfig = ForwardConfig()
    hub: HubConfig = HubConfig()
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


def _key_path(raw: str) -> str:
    return raw.lstrip(".") or "(top level)"


def _translate(err: msgspec.MsgspecError) -> ConfigError:
    """Turn msgspec's message into `key.path: what is wrong`."""
    m = _AT.match(str(err))
    assert m is not None  # the pattern matches any string
    msg, path = m.group("msg"), m.group("path") or ""
    unknown = _UNKNOWN.search(msg)
    if unknown:
        full = f"{path}.{unknown.group('key')}"
        return ConfigError(f"{_key_path(full)}: unknown key")
    return ConfigError(f"{_key_path(path)}: {msg}")


def parse_toml(text: str | bytes) -> Config:
    """Decode and validate a TOML document; raises ConfigError naming the key."""
    try:
        cfg = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as e:
        raise _translate(e) from e
    except msgspec.DecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from e
    return validate(cfg)


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port)."""
    host, sep, port_s = listen.rpartition(":")
    if not sep or not host or not port_s.isdigit():
        raise ConfigError(f"server.listen: expected HOST:PORT, got {listen!r}")
    port = int(port_s)
    if not 0 <= port <= 65535:
        raise ConfigError(f"server.listen: port {port} out of range")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigError(
                f"server.listen: {host!r} is not an IP address (or localhost)"
            ) from None
    return host, port


_ORIGIN = re.compile(r"^(\*|https?://[A-Za-z0-9.\-\[\]:]+)$")
_SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,252}$")
_REDIS_URL = re.compile(r"^(rediss?://[^\s]+|unix://[^\s]+)$")


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


def validate(cfg: Config) -> Config:
    """Checks that need more than types; returns the config unchanged."""
    s = cfg.server
    parse_listen(s.listen)
    _check_each(s.trusted_proxies, "server.trusted_proxies", _is_network, "expected a CIDR")
    _check(
        1024 <= s.max_body_bytes <= 64 * 1024 * 1024,
        "server.max_body_bytes",
        "must be between 1024 and 67108864",
    )
    _check(0 < s.read_timeout_s <= 300, "server.read_timeout_s", "must be in (0, 300]")
    _check(0 < s.keep_alive_s <= 3600, "server.keep_alive_s", "must be in (0, 3600]")
    _check(
        1 <= s.max_connections <= 100_000, "server.max_connections", "must be between 1 and 100000"
    )
    st = cfg.storage
    _check(bool(st.data_dir), "storage.data_dir", "must not be empty")
    _check(st.spool_max_bytes >= 4096, "storage.spool_max_bytes", "must be at least 4096")
    # Per-event rows are what unique visitors are recounted from after a
    # restart when late events (up to 7 days old) arrive, so keep 8 days.
    _check(
        8 <= st.raw_event_retention_days <= 3650,
        "storage.raw_event_retention_days",
        "must be between 8 and 3650",
    )
    _check(
        0 < cfg.aggregator.flush_interval_s <= 3600,
        "aggregator.flush_interval_s",
        "must be in (0, 3600]",
    )
    _check(
        0 <= cfg.aggregator.quiet_flush_s <= 3600,
        "aggregator.quiet_flush_s",
        "must be in [0, 3600] (0 turns it off)",
    )
    _validate_redis(cfg.forward, cfg.hub)
    _check(len(cfg.sites) > 0, "sites", "at least one [[sites]] entry is required")
    seen: set[str] = set()
    for i, site in enumerate(cfg.sites):
        key = f"sites[{i}]"
        _check(
            bool(_SITE_ID.match(site.id)),
            f"{key}.id",
            f"must be a hostname-like id, got {site.id!r}",
        )
        _check(site.id not in seen, f"{key}.id", f"duplicate site id {site.id!r}")
        seen.add(site.id)
        _check(
            _is_timezone(site.timezone),
            f"{key}.timezone",
            f"unknown IANA timezone {site.timezone!r}",
        )
        _check_each(
            site.origins,
            f"{key}.origins",
            lambda o: bool(_ORIGIN.match(o)),
            "expected '*' or scheme://host[:port]",
        )
        names: set[str] = set()
        for j, goal in enumerate(site.goals):
            gkey = f"{key}.goals[{j}]"
            _check(
                bool(goal.event) != bool(goal.page),
                gkey,
                "set exactly one of `event` or `page`",
            )
            _check(not goal.page or goal.page.startswith("/"), f"{gkey}.page", "must start with /")
            _check(len(goal.display_name) <= 120, f"{gkey}.name", "at most 120 characters")
            _check(goal.display_name not in names, gkey, f"duplicate goal {goal.display_name!r}")
            names.add(goal.display_name)
        validate_funnels(site, key)
    _validate_metrics(cfg.metrics)
    _validate_tracker(cfg.tracker)
    _check_each(
        cfg.api.tokens,
        "api.tokens",
        lambda t: 16 <= len(t) <= 256 and t.isascii() and t.isprintable() and " " not in t,
        "each token must be 16-256 printable ASCII characters without spaces",
    )
    return cfg


_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_METRIC_TYPES = ("count", "sum", "avg", "distinct", "ratio")
_BUILTIN_OPERANDS = ("events", "pageviews", "visitors", "visits")
_PROPS_FIELD = re.compile(r'^props\.[^"\\\x00-\x1f]{1,256}$')


_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,200}$")
# Paths the daemon serves itself; the tracker's must not shadow them.
_RESERVED = ("/api/batch", "/api/stats", "/api/health", "/api/openapi.json", "/api/v1/", "/metrics")


def _validate_tracker(t: TrackerConfig) -> None:
    for key in ("script_path", "event_path"):
        path = getattr(t, key)
        _check(bool(_URL_PATH.match(path)), f"tracker.{key}", "must be a URL path such as /js/a.js")
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
        _check(bool(f.name) and len(f.name) <= 120, f"{fkey}.name", "1-120 characters")
        _check(f.name not in names, f"{fkey}.name", f"duplicate funnel {f.name!r}")
        names.add(f.name)
        _check(2 <= len(f.steps) <= 20, f"{fkey}.steps", "a funnel has 2 to 20 steps")
        _check(1 <= f.window_s <= 90 * 86400, f"{fkey}.window_s", "must be 1 to 7776000 s")
        _check(f.order in ("loose", "strict"), f"{fkey}.order", "must be loose or strict")
        for j, step in enumerate(f.steps):
            skey = f"{fkey}.steps[{j}]"
            _check(bool(step.event) != bool(step.page), skey, "set exactly one of event or page")
            _check(not step.page or step.page.startswith("/"), f"{skey}.page", "must start with /")


def _validate_metrics(metrics: tuple[MetricConfig, ...]) -> None:
    names = {m.name for m in metrics}
    seen: set[str] = set()
    for i, m in enumerate(metrics):
        key = f"metrics[{i}]"
        _check(bool(_METRIC_NAME.match(m.name)), f"{key}.name", "lower-case letters, digits, _")
        _check(m.name not in STANDARD_METRICS, f"{key}.name", f"{m.name!r} is a built-in metric")
        _check(m.name not in seen, f"{key}.name", f"duplicate metric {m.name!r}")
        seen.add(m.name)
        _check(m.type in _METRIC_TYPES, f"{key}.type", f"must be one of {', '.join(_METRIC_TYPES)}")
        _check(not m.page or m.page.startswith("/"), f"{key}.page", "must start with /")
        if m.type in ("sum", "avg"):
            _check(
                m.field == "revenue" or bool(_PROPS_FIELD.match(m.field)),
                f"{key}.field",
                'sum and avg need field = "revenue" or "props.NAME"',
            )
        else:
            _check(not m.field, f"{key}.field", "only sum and avg take a field")
        if m.type == "distinct":
            _check(
                m.of in ("visitor", "session", "user") or bool(_PROPS_FIELD.match(m.of)),
                f"{key}.of",
                'distinct needs of = "visitor", "session", "user" or "props.NAME"',
            )
        else:
            _check(not m.of, f"{key}.of", "only distinct takes `of`")
        if m.type == "ratio":
            for side in ("numerator", "denominator"):
                operand = getattr(m, side)
                _check(
                    operand in _BUILTIN_OPERANDS
                    or (operand in names and _type_of(metrics, operand) != "ratio"),
                    f"{key}.{side}",
                    f"must name a non-ratio custom metric or one of {', '.join(_BUILTIN_OPERANDS)}",
                )
            _check(
                not (m.event or m.page or m.goal or m.props),
                key,
                "a ratio takes its events from its two metrics, not filters of its own",
            )
        else:
            _check(
                not (m.numerator or m.denominator), key, "only ratio takes numerator/denominator"
            )


def _type_of(metrics: tuple[MetricConfig, ...], name: str) -> str:
    return next(m.type for m in metrics if m.name == name)


# Query parameters the Redis client understands that make sense here (TLS
# files and checks); anything else would fail only when the actor starts.
_REDIS_QUERY = frozenset(
    {"ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
     "ssl_check_hostname", "db"}
)  # fmt: skip


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


def _validate_redis(fw: ForwardConfig, hub: HubConfig) -> None:
    for key, url in (("forward.redis_url", fw.redis_url), ("hub.redis_url", hub.redis_url)):
        _check(
            _is_redis_url(url),
            key,
            "expected redis://[:password@]host[:port][/db], rediss://... or unix:///path "
            f"(query: {', '.join(sorted(_REDIS_QUERY))})",
        )
    _check(
        0.05 <= fw.probe_interval_s <= 3600, "forward.probe_interval_s", "must be in [0.05, 3600]"
    )
    _check(0.05 <= fw.timeout_s <= 60, "forward.timeout_s", "must be in [0.05, 60]")
    _check(1 <= fw.batch_size <= 10_000, "forward.batch_size", "must be between 1 and 10000")
    _check(
        0 <= fw.max_events_per_s <= 10_000_000,
        "forward.max_events_per_s",
        "must be between 0 (no bound) and 10000000",
    )
    _check(0.1 <= fw.max_backoff_s <= 3600, "forward.max_backoff_s", "must be in [0.1, 3600]")
    _check(bool(fw.stream), "forward.stream", "must not be empty")
    _check(bool(hub.stream), "hub.stream", "must not be empty")
    _check(bool(hub.group), "hub.group", "must not be empty")
    _check(1 <= hub.max_deliveries <= 1000, "hub.max_deliveries", "must be between 1 and 1000")
    _check(0.05 <= hub.claim_idle_s <= 86400, "hub.claim_idle_s", "must be in [0.05, 86400]")
    _check(1 <= hub.batch_size <= 10_000, "hub.batch_size", "must be between 1 and 10000")
    _check(0.05 <= hub.timeout_s <= 60, "hub.timeout_s", "must be in [0.05, 60]")
    _check(0.1 <= hub.max_backoff_s <= 3600, "hub.max_backoff_s", "must be in [0.1, 3600]")
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
