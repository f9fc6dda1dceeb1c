"""Stats API v2 route: `POST /api/v2/query` (Plausible's query API).

The same tokens as v1 (`[api] tokens`, or the dashboard's session); errors
are Plausible's v2 shape, `{"error": "..."}`, with 400 for a bad query, 401
or 403 for a missing or refused token, 404 for an unknown site. The body is
validated in core.v2query before any storage is touched; answers are cached
like v1's, for one flush generation.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from quart import Response, request
from quart_trio import QuartTrio

from analyticsd.core.config import Config
from analyticsd.core.errors import QueryError, QueryTimeout, StatsStoreError
from analyticsd.core.v2query import decode_body, parse_v2
from analyticsd.http.access import denial, site_denial
from analyticsd.http.stats_api import (
    QueryCache,
    StatsDeps,
    StatsStore,
    custom_metrics,
    site_goals,
)

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(payload),
        status=status,
        content_type="application/json",
        headers=headers or {},
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"error": message}, headers)


async def _body() -> bytes | None:
    """The request body, or None when it is over MAX_BODY_BYTES."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    data = await request.get_data(cache=False, as_text=False)
    raw = data.encode() if isinstance(data, str) else data
    return None if len(raw) > MAX_BODY_BYTES else raw


def register(app: QuartTrio, deps: StatsDeps) -> None:
    cache = QueryCache()

    async def answer(cfg: Config, raw: bytes) -> Response:
        """Parse, then answer from the cache or the store (QueryError: a 400)."""
        body = decode_body(raw)
        site = cfg.site(body.site_id)
        out_of_scope = site_denial(deps.access, body.site_id)
        if site is None or out_of_scope is not None:
            return _error(404, f"site_id: {body.site_id!r} is not a configured site")
        custom = custom_metrics(cfg)
        today = deps.today(site.timezone)
        goals = tuple(g.display_name for g in site.goals)
        q = parse_v2(body, site.timezone, today, goals, custom)
        horizon = deps.now_ms() - cfg.storage.raw_event_retention_days * 86_400_000
        key, generation = ("v2", q, today), (deps.flushes(), id(cfg), deps.imports())
        # `Cache-Control: no-cache` asks for a fresh answer (it is cached anew).
        if "no-cache" not in request.headers.get("Cache-Control", ""):
            hit = cache.get(generation, key)
            if hit is not None:
                return _json(200, hit, {"X-Cache": "hit"})

        imported_goals = site_goals(site)

        def work(store: StatsStore) -> dict[str, Any]:
            return store.v2(custom, horizon, q, today, imported_goals)

        result = await deps.run(work)
        cache.put(key, result)
        return _json(200, result, {"X-Cache": "miss"})

    async def query() -> Response:
        cfg = deps.config()
        denied = denial(deps.access, cfg)
        if denied is not None:
            return _error(*denied)
        raw = await _body()
        if raw is None:
            return _error(413, f"the query body is larger than {MAX_BODY_BYTES} bytes")
        try:
            return await answer(cfg, raw)
        except QueryError as e:
            return _error(400, e.message)
        except QueryTimeout as e:
            return _error(503, str(e), {"Retry-After": "60"})
        except StatsStoreError as e:
            log.error("stats query failed: %s", e)
            return _error(503, "the statistics store could not answer; see the daemon log")

    app.add_url_rule("/api/v2/query", "stats_v2_query", query, methods=["POST"])
