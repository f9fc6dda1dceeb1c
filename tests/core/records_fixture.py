"""Building enriched records (and instants) for pure-core tests."""

from __future__ import annotations

from datetime import datetime

from analyticsd.core.geo import NO_GEO, GeoInfo
from analyticsd.core.ingest import IncomingEvent
from analyticsd.core.source import DIRECT, DIRECT_NAME, Source
from analyticsd.core.spool_record import EnrichedRecord
from analyticsd.core.useragent import BOT, ClientInfo

DESKTOP = ClientInfo("Firefox", "122.0", "Windows", "10", "Desktop", False)
NO_SOURCE = Source(DIRECT, DIRECT_NAME, "")


def rec(
    ts: int,
    visitor: str = "00000000000000a1",
    path: str = "/",
    kind: str = "pageview",
    site: str = "s",
    *,
    prev_visitor: str = "",
    goals: tuple[str, ...] = (),
    source: Source = NO_SOURCE,
    client: ClientInfo = DESKTOP,
    geo: GeoInfo = NO_GEO,
    props: dict[str, str | int | float | bool] | None = None,
    revenue: tuple[str, str] | None = None,
    bot: bool = False,
    received_ms: int | None = None,
    user_id: str | None = None,
) -> EnrichedRecord:
    ev = IncomingEvent(
        site_id=site,
        event_type=kind,
        path=path,
        hostname="example.com",
        timestamp_ms=ts,
        event_id=None,
        referrer="",
        props=props or {},
        revenue_amount=revenue[0] if revenue else None,
        revenue_currency=revenue[1] if revenue else None,
        session_id=None,
        user_id=user_id,
        screen_width=1920,
        utm={},
    )
    return EnrichedRecord(
        event_id=f"id-{ts}-{path}",
        received_ms=ts if received_ms is None else received_ms,
        visitor=visitor,
        prev_visitor=prev_visitor,
        client=BOT if bot else client,
        geo=geo,
        lang="en-US",
        source=source,
        goals=goals,
        event=ev,
    )


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 instant with its offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)
