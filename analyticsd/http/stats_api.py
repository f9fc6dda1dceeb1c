"""Stats API v1 routes (Plausible-shaped), bearer tokens and the query cache.

Every endpoint parses its parameters into a normalised `Query` first (a 400
names the bad parameter), then runs it in a worker thread on a read
connection of its own. Answers are cached by the normalised query; the cache
is emptied whenever the aggregator commits a flush (or the configuration is
reloaded), so a cached answer is never older than the data behind it.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core import v1_rules
from analyticsd.core.buckets import day_range_ms
from analyticsd.core.config import (
    Config,
    FunnelConfig,
    MetricConfig,
    SiteConfig,
    decode_section,
    validate_funnels,
)
from analyticsd.core.errors import ConfigError, QueryError, QueryTimeout, StatsStoreError
from analyticsd.core.funnel import (
    COHORT_PERIODS,
    ORDERS,
    FunnelDef,
    Step,
)
from analyticsd.core.imported_plan import UNSUPPORTED_QUERY, WARNINGS, Goal
from analyticsd.core.plan import bucket_label
from analyticsd.core.query import CustomMetric, Query, parse_query, period_range
from analyticsd.core.v2query import V2Query
from analyticsd.http.access import AccessDeps, denial, readable_sites

T = TypeVar("T")
log = logging.getLogger(__name__)


class Answers(Protocol):
    """The Stats API's answers for one question's metrics (storage.stats_answers)."""

    engines_used: list[str]

    @property
    def import_reason(self) -> str | None: ...
    def aggregate(self, q: Query) -> dict[str, Any]: ...
    def timeseries(self, q: Query) -> dict[str, Any]: ...
    def breakdown(self, q: Query) -> dict[str, Any]: ...
    def rollups(self, q: Query, today: int) -> dict[str, Any]: ...


class StatsStore(Protocol):
    """What the Stats API and the dashboard read. The HTTP side reaches the
    store only through this, handed in by the daemon (storage.stats_answers)."""

    def realtime(self, site: str, now_ms: int) -> int: ...
    def actor_events(
        self, site: str, start_ms: int, end_ms: int, by_user: bool
    ) -> Iterator[tuple[Any, ...]]: ...
    def prop_keys(self, site: str, name: str, start_ms: int, end_ms: int) -> list[str]: ...
    def funnel(
        self, site: str, start_ms: int, end_ms: int, by_user: bool, f: FunnelDef
    ) -> dict[str, Any]: ...
    def retention(
        self,
        site: str,
        tz: str,
        start_ms: int,
        end_ms: int,
        period: str,
        periods: int,
        first_day: int,
        last_day: int,
        today: int,
        start_event: str = "",
        return_event: str = "",
    ) -> tuple[list[tuple[int, int, list[int | None]]], list[float | None]]: ...
    def answers(
        self,
        custom: Mapping[str, CustomMetric],
        horizon_ms: int,
        imports: tuple[Goal, ...] | None = None,
    ) -> Answers: ...
    def v2(
        self,
        custom: Mapping[str, CustomMetric],
        horizon_ms: int,
        q: V2Query,
        today: int,
        goals: tuple[Goal, ...] = (),
    ) -> dict[str, Any]: ...


# Runs a blocking function with the store in a worker thread.
RunQuery = Callable[[Callable[[StatsStore], T]], Awaitable[T]]
CACHE_ENTRIES = 512
# `with_imported`: Plausible's clients send it; with no imported data here,
# the answer with imports is the answer without them.
_COMMON = frozenset({"site_id", "period", "date", "with_imported"})
# Aggregates and series take `property` and ignore it, as Plausible's do.
_PARAMS = {
    "aggregate": _COMMON | {"metrics", "filters", "compare", "property", "with_imported"},
    "timeseries": _COMMON
    | {"metrics", "filters", "interval", "compare", "property", "with_imported"},
    "breakdown": _COMMON
    | {"metrics", "filters", "property", "compare", "limit", "page", "with_imported"},
    "rollups": _COMMON | {"metrics", "filters", "interval"},
    "funnel": _COMMON | {"funnel", "steps", "window_s", "order", "by"},
    "retention": _COMMON | {"cohort", "periods", "start_event", "return_event"},
    # Plausible's realtime ignores the parameters of the other endpoints.
    "realtime": _COMMON | {"metrics", "filters", "property", "interval", "compare"},
}


@dataclass
class StatsDeps:
    config: Callable[[], Config]
    run: RunQuery[Any]
    today: Callable[[str], int]  # local day number of a timezone
    now_ms: Callable[[], int]
    flushes: Callable[[], int]  # the aggregator's committed flush count
    # Changes with every import (storage.imported.stamp_of): part of the
    # answer cache's generation, as imports commit outside the daemon.
    imports: Callable[[], object] = lambda: 0
    # Tokens, sessions, scopes (a valid session cookie stands for a token).
    access: AccessDeps = field(default_factory=lambda: AccessDeps(lambda: (), b"", lambda: 0))


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(payload),
        status=status,
        content_type="application/json",
        headers=headers or {},
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Plausible's error shape: its clients show `error`."""
    return _json(status, {"error": message}, headers)


def _v1_denial(status: int, message: str, headers: dict[str, str]) -> Response:
    """A refused request in Plausible's terms: 401 for a missing or refused
    key and for a site the key cannot read (unknown or out of its scope, one
    answer for both, so a key learns nothing of other sites)."""
    if headers.get("WWW-Authenticate", "").startswith("Bearer realm"):  # no Authorization
        message = v1_rules.MISSING_KEY
    elif status in (403, 404):
        status, message = 401, v1_rules.INVALID_KEY
    return _error(status, message, headers)


def _message(e: QueryError) -> str:
    return e.message if e.whole else f"{e.param}: {e.message}"


def custom_metrics(cfg: Config) -> dict[str, CustomMetric]:
    return {m.name: _custom(m) for m in cfg.metrics}


def _custom(m: MetricConfig) -> CustomMetric:
    return CustomMetric(
        m.name,
        m.type,
        m.event,
        m.page,
        m.goal,
        tuple(sorted(m.props.items())),
        m.field,
        m.of,
        m.numerator,
        m.denominator,
        m.p,
    )


def funnel_def(f: FunnelConfig) -> FunnelDef:
    steps = tuple(
        Step(
            s.name or s.event or f"Visit {s.page}", s.event, s.page, tuple(sorted(s.props.items()))
        )
        for s in f.steps
    )
    return FunnelDef(f.name, steps, f.window_s, f.order)


def _funnel_error(e: ConfigError) -> QueryError:
    """`steps[1].page: must ...` is reported against `steps`, with its path;
    `window_s: ...` and `order: ...` against those parameters."""
    key, _, message = str(e).partition(": ")
    param = re.split(r"[.\[]", key, maxsplit=1)[0]
    if param not in ("steps", "window_s", "order"):
        return QueryError("steps", str(e))
    return QueryError(param, message if key == param else str(e))


def _funnel_from_request(args: dict[str, str], cfg_funnels: tuple[FunnelConfig, ...]) -> FunnelDef:
    if args.get("funnel") and args.get("steps"):
        raise QueryError("funnel", "give either funnel (a configured name) or steps, not both")
    if args.get("funnel"):
        for f in cfg_funnels:
            if f.name == args["funnel"]:
                return funnel_def(f)
        names = ", ".join(f.name for f in cfg_funnels) or "none configured"
        raise QueryError("funnel", f"no funnel named {args['funnel']!r} ({names})")
    if not args.get("steps"):
        raise QueryError("steps", "give funnel=NAME or steps=[{...}, ...] (JSON)")
    try:
        raw = json.loads(args["steps"])
    except ValueError:
        raise QueryError("steps", "must be a JSON array of steps") from None
    try:
        window_s = int(args.get("window_s") or 86_400)
    except ValueError:
        raise QueryError("window_s", "must be a whole number of seconds") from None
    try:
        cfg = decode_section(
            {
                "name": "request",
                "steps": raw,
                "window_s": window_s,
                "order": args.get("order") or "loose",
            },
            FunnelConfig,
        )
    except ConfigError as e:
        raise _funnel_error(e) from None
    try:
        validate_funnels(SiteConfig(id="request", funnels=(cfg,)), "request")
    except ConfigError as e:
        raise QueryError("steps", str(e).replace("request.funnels[0].", "")) from None
    return funnel_def(cfg)


def site_goals(site: SiteConfig) -> tuple[Goal, ...]:
    """A site's goals as imported rows match them (storage.imported)."""
    return tuple(Goal(g.display_name, g.event, g.page) for g in site.goals)


def with_imported(args: Mapping[str, str]) -> bool:
    raw = args.get("with_imported", "false")
    if raw not in ("true", "false"):
        raise QueryError("with_imported", "must be true or false")
    return raw == "true"


class QueryCache:
    """LRU of answers, valid for one generation (flush count, config, imports)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self.entries = entries
        self.generation: object = None
        self.data: OrderedDict[object, Any] = OrderedDict()

    def get(self, generation: object, key: object) -> Any | None:
        if generation != self.generation:
            self.data.clear()
            self.generation = generation
        value = self.data.get(key)
        if value is None:
            return None
        self.data.move_to_end(key)
        return value

    def put(self, key: object, value: Any) -> None:
        self.data[key] = value
        if len(self.data) > self.entries:
            self.data.popitem(last=False)


def register(app: QuartTrio, deps: StatsDeps) -> None:
    cache = QueryCache()

    def authorize(cfg: Config, site_id: str | None = None) -> Response | None:
        denied = denial(deps.access, cfg, site_id)
        return None if denied is None else _v1_denial(*denied)

    async def handle(endpoint: str) -> Response:
        cfg = deps.config()
        denied = authorize(cfg, request.args.get("site_id", "") or None)
        if denied is not None:
            return denied
        args = {k: v for k, v in request.args.items()}
        site_id = args.get("site_id", "")
        if not site_id:
            return _error(400, v1_rules.MISSING_SITE)
        site = cfg.site(site_id)
        if site is None:
            return _error(401, v1_rules.INVALID_KEY)
        unknown = sorted(set(request.args.keys()) - _PARAMS[endpoint])
        if unknown:
            return _error(400, f"{unknown[0]}: unknown parameter for {endpoint}")
        if endpoint == "realtime":  # its other parameters are ignored, as by Plausible
            try:
                n = await deps.run(lambda e: e.realtime(site_id, deps.now_ms()))
            except StatsStoreError as e:
                log.error("realtime visitors failed: %s", e)
                return _error(503, "the statistics store could not answer; see the daemon log")
            return _json(200, n)
        empty = sorted(k for k, v in request.args.items(multi=True) if v == "")
        if empty:
            return _error(400, f"{empty[0]}: is empty (leave it out for the default)")
        custom = custom_metrics(cfg)
        today = deps.today(site.timezone)
        horizon = deps.now_ms() - cfg.storage.raw_event_retention_days * 86_400_000
        goals = tuple(g.display_name for g in site.goals)
        try:
            if endpoint in ("funnel", "retention"):
                key: object = (endpoint, site_id, site.timezone, tuple(sorted(args.items())), today)
                work = _actor_report(endpoint, args, cfg, site.timezone, today, horizon, deps)
            else:
                q = parse_query(endpoint, args, site.timezone, today, custom, goals)
                imports = site_goals(site) if with_imported(args) else None
                key = (endpoint, q, imports is not None)
                work = _report(endpoint, q, custom, horizon, today, imports)
            generation = (deps.flushes(), id(cfg), deps.imports())
            # `Cache-Control: no-cache` asks for a fresh answer (it is cached anew).
            fresh = "no-cache" in request.headers.get("Cache-Control", "")
            hit = None if fresh else cache.get(generation, key)
            if hit is not None:
                return _json(200, hit, {"X-Cache": "hit"})
            result = await deps.run(work)
        except QueryError as e:
            return _error(400, _message(e))
        except QueryTimeout as e:
            return _error(503, str(e), {"Retry-After": "60"})
        except StatsStoreError as e:
            log.error("stats query failed: %s", e)
            return _error(503, "the statistics store could not answer; see the daemon log")
        cache.put(key, result)
        return _json(200, result, {"X-Cache": "miss"})

    async def sites() -> Response:
        cfg = deps.config()
        denied = authorize(cfg)
        if denied is not None:
            return denied
        readable = set(readable_sites(deps.access, cfg))
        return _json(
            200,
            {
                "sites": [
                    {"id": s.id, "timezone": s.timezone, "funnels": [f.name for f in s.funnels]}
                    for s in cfg.sites
                    if s.id in readable
                ],
                "metrics": [m.name for m in cfg.metrics],
            },
        )

    app.add_url_rule("/api/v1/sites", "stats_sites", sites, methods=["GET"])
    for endpoint in ("aggregate", "timeseries", "breakdown", "rollups", "funnel", "retention"):
        app.add_url_rule(
            f"/api/v1/stats/{endpoint}",
            f"stats_{endpoint}",
            _bind(handle, endpoint),
            methods=["GET"],
        )
    app.add_url_rule(
        "/api/v1/stats/realtime/visitors",
        "stats_realtime",
        _bind(handle, "realtime"),
        methods=["GET"],
    )


def _bind(handle: Callable[[str], Awaitable[Response]], endpoint: str) -> Callable[[], Any]:
    async def view() -> Response:
        return await handle(endpoint)

    return view


def _report(
    endpoint: str,
    q: Query,
    custom: dict[str, CustomMetric],
    horizon: int,
    today: int,
    imports: tuple[Goal, ...] | None = None,
) -> Callable[[StatsStore], Any]:
    def work(store: StatsStore) -> Any:
        reports = store.answers(custom, horizon, imports)
        if endpoint == "rollups":
            result = reports.rollups(q, today)
        elif endpoint == "aggregate":
            result = reports.aggregate(q)
        elif endpoint == "timeseries":
            result = reports.timeseries(q)
        else:
            result = reports.breakdown(q)
        result["meta"] = {
            "period": q.range.label(),
            "engine": "events" if "events" in reports.engines_used else "rollup",
        }
        if reports.import_reason == UNSUPPORTED_QUERY:
            # Plausible's v1 says so only for this reason (with_imported=true).
            result["warning"] = WARNINGS[UNSUPPORTED_QUERY]
        return result

    return work


def _positive(args: dict[str, str], name: str, default: int, hi: int) -> int:
    raw = args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= hi:
        raise QueryError(name, f"must be an integer between 1 and {hi}")
    return int(raw)


def _actor_report(
    endpoint: str,
    args: dict[str, str],
    cfg: Config,
    tz: str,
    today: int,
    horizon: int,
    deps: StatsDeps,
) -> Callable[[StatsStore], Any]:
    site_id = args["site_id"]
    r = period_range(args.get("period") or "30d", args.get("date", ""), today)
    start_ms = day_range_ms(r.first, tz)[0]
    if start_ms < horizon:
        raise QueryError(
            "period",
            f"{endpoint}s read per-event rows, kept for storage.raw_event_retention_days "
            f"({cfg.storage.raw_event_retention_days}); the range starts before the oldest kept",
        )
    if endpoint == "funnel":
        site = cfg.site(site_id)
        f = _funnel_from_request(args, site.funnels if site else ())
        by = args.get("by") or "visitor"
        if by not in ("visitor", "user"):
            raise QueryError("by", "must be visitor or user")
        if f.order not in ORDERS:
            raise QueryError("order", "must be loose or strict")
        end_ms = day_range_ms(r.last, tz)[1]

        def run_funnel(store: StatsStore) -> Any:
            result = store.funnel(site_id, start_ms, end_ms, by == "user", f)
            result["by"] = by
            result["meta"] = {"period": r.label()}
            return result

        return run_funnel
    period = args.get("cohort") or "week"
    if period not in COHORT_PERIODS:
        raise QueryError("cohort", f"must be one of {', '.join(COHORT_PERIODS)}")
    periods = _positive(args, "periods", 8, 60)
    unit = "day" if period == "day" else period

    def run_retention(store: StatsStore) -> Any:
        matrix, curve = store.retention(
            site_id,
            tz,
            start_ms,
            deps.now_ms() + 86_400_000,
            period,
            periods,
            r.first,
            r.last,
            today,
            args.get("start_event", ""),
            args.get("return_event", ""),
        )
        return {
            "cohort": period,
            "periods": periods,
            "cohorts": [
                {
                    "cohort": bucket_label(unit, c),
                    "size": size,
                    "retained": counts,
                    "retention": [None if v is None else round(100 * v / size, 2) for v in counts],
                }
                for c, size, counts in matrix
            ],
            "overall": curve,
            "meta": {"period": r.label()},
        }

    return run_retention
