"""Per-event answers that take a shortcut equal the general statement's."""

from __future__ import annotations

from pathlib import Path

from analyticsd.core.aggregate import Aggregation, day_number
from analyticsd.core.geo import GeoInfo
from analyticsd.core.query import CustomMetric, parse_query
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports
from analyticsd.storage.statsdb import FILENAME, StatsDB, connect_readonly
from tests.core.records_fixture import rec
from tests.storage.test_statsdb import MIN, T, feed

CUSTOM = {"pro": CustomMetric("pro", "count", event="Signup", props=(("plan", "pro"),))}


def test_custom_metrics_by_a_visit_dimension_equal_the_general_statement(tmp_path: Path) -> None:
    """Only custom metrics, grouped by a visit dimension: the groups come
    from the events' dimension ids. With a built-in metric beside them the
    groups come from the joined statement; both must list the same groups
    (zero ones too) with the same values; visits without a country make no row."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    de, fr = GeoInfo("DE", "Berlin", "Berlin"), GeoInfo("FR", "", "")
    records = [
        rec(T, "00000000000000a1", geo=de),
        rec(T + MIN, "00000000000000a1", kind="Signup", geo=de, props={"plan": "pro"}),
        rec(T, "00000000000000b2", geo=fr),  # a country without signups: a zero row
        rec(T, "00000000000000c3", kind="Signup", props={"plan": "free"}),
        rec(T + 2 * MIN, "00000000000000d4", kind="Signup", geo=de, props={"plan": "pro"}),
    ]
    feed(db, agg, records, 1)
    db.close()
    engine = QueryEngine(connect_readonly(str(tmp_path / FILENAME)))
    today = day_number("2026-11-23")

    def breakdown(metrics: str, filters: str = "") -> list[tuple[object, object]]:
        args = {"site_id": "s", "period": "day", "property": "visit:country", "metrics": metrics}
        q = parse_query("breakdown", {**args, "filters": filters}, "UTC", today, CUSTOM)
        answer = Reports(engine, CUSTOM, 0).breakdown(q)
        return sorted((r["country"], r["pro"]) for r in answer["results"])

    assert breakdown("pro") == breakdown("visitors,pro") == [("DE", 2), ("FR", 0)]
    assert breakdown("pro", "visit:country!=FR") == [("DE", 2)]
    assert breakdown("pro", "visit:entry_page==/") == breakdown(
        "visitors,pro", "visit:entry_page==/"
    )
    engine.conn.close()
