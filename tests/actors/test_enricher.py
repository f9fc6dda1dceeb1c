"""The enricher's feeds over a real spool, on trio's mock clock."""

from __future__ import annotations

import uuid
from pathlib import Path

import trio
import trio.testing

from analyticsd.actors.enricher import Enricher, enrich_rows
from analyticsd.actors.spool_writer import SpoolWriter
from analyticsd.core.config import GoalConfig, SiteConfig
from analyticsd.core.enrich import RuleBook, encode_rules, rule_set
from analyticsd.core.geo import NO_GEO
from analyticsd.core.ingest import IncomingEvent, validate_event
from analyticsd.core.messages import Append, PendingRecord, PublishRules
from analyticsd.core.spool_record import Record, encode
from analyticsd.storage.spool import Spool
from tests.core.records_fixture import DESKTOP

NOW = 1_790_000_000_000


def stored(kind: str) -> bytes:
    ev = validate_event({"siteId": "s", "eventType": kind, "path": "/"}, NOW)
    assert isinstance(ev, IncomingEvent)
    return encode(
        Record(str(uuid.uuid4()), NOW, "00000000000000a1", "", DESKTOP, NO_GEO, "", None, (), ev)
    )


def goals(*events: str) -> bytes:
    site = SiteConfig(id="s", goals=tuple(GoalConfig(event=e) for e in events))
    return encode_rules(rule_set([site]))


def test_unreadable_records_are_skipped_and_the_rest_enriched() -> None:
    book = RuleBook()
    book.update([(1, goals("Signup"))])
    out = enrich_rows([(1, stored("Signup")), (2, b"\xc1garbage"), (3, stored("other"))], book)
    assert [(seq, r.goals) for seq, r in out] == [(1, ("Signup",)), (3, ())]


async def test_every_consumer_gets_the_rules_of_each_records_sequence(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    spool = Spool(str(tmp_path / "spool"), 1 << 24, ("aggregator", "forwarder"))
    writer = SpoolWriter(spool, lambda: NOW)
    enricher = Enricher(spool, writer)

    async def append(kind: str) -> None:
        await writer.submit(Append([PendingRecord("x", stored(kind), indexed=False)]))

    async def goals_seen(after: int) -> list[tuple[str, ...]]:
        async with await enricher.subscribe(after, 100, 0.0) as feed:
            batch = await feed.receive()
        return [r.goals for _, r in batch.records]

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await nursery.start(enricher.run)
        await writer.submit(PublishRules(goals("Signup")))
        await append("Signup")
        await append("Buy")
        # A reload makes Buy a goal: from the next record on, not before.
        await writer.submit(PublishRules(goals("Signup", "Buy")))
        await append("Buy")
        early = await goals_seen(0)
        late = await goals_seen(1)  # a consumer behind the other, or restarted
        assert early == [("Signup",), (), ("Buy",)]
        assert late == early[1:]
        enricher.stopping.set()
        writer.close()
    # After a restart the stored rule sets give the same answers.
    enricher = Enricher(spool, writer := SpoolWriter(spool, lambda: NOW))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await nursery.start(enricher.run)
        assert await goals_seen(0) == early
        enricher.stopping.set()
        writer.close()
