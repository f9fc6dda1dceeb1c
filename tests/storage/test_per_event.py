"""Per-event answers that take a shortcut equal the general statement's."""

from __future__ import annotations

from pathlib import Path

from analyticsd.core.aggregate import Aggregation, day_number
from analyticsd.core.geo import GeoInfo
from analyticsd.core.query import CustomMetric, parse_query
from analyticsd.storage.queries import QueryEngine
from analyticsd.storage.stats_answers import Reports
from analyticsd.storage.statsdb import FILENAME, StatsDB, connect_readonly
from tests.core.records_fixture import ms, rec
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


def test_a_visits_user_comes_from_all_of_its_events_also_past_the_range(tmp_path: Path) -> None:
    """visit:user is the first user id (by time, then id) among the visit's
    events, also those after the queried day: a visit from 23:50 to 00:05
    whose user id comes at 00:05 is that user's on the first day too."""
    db = StatsDB(str(tmp_path))
    agg = Aggregation(tz_of={"s": "UTC"})
    midnight = ms("2026-11-24T00:00:00+00:00")
    records = [
        rec(midnight - 10 * MIN, "00000000000000a1", "/a"),
        rec(midnight + 5 * MIN, "00000000000000a1", "/b", user_id="late"),
        rec(midnight - 60 * MIN, "00000000000000b2", "/c", user_id="zed"),
        rec(midnight - 60 * MIN, "00000000000000b2", "/d", user_id="amy"),  # same time: by id
        rec(midnight - 50 * MIN, "00000000000000c3", "/e"),
    ]
    feed(db, agg, records, 1)
    db.close()
    engine = QueryEngine(connect_readonly(str(tmp_path / FILENAME)))
    today = day_number("2026-11-25")

    def breakdown(prop: str, date: str, filters: str = "") -> dict[str, int]:
        args = {"site_id": "s", "period": "day", "date": date, "property": prop,
                "metrics": "pageviews", "filters": filters}  # fmt: skip
        q = parse_query("breakdown", args, "UTC", today, {})
        return {r["user"]: r["pageviews"] for r in Reports(engine, {}, 0).breakdown(q)["results"]}

    assert breakdown("visit:user", "2026-11-23") == {"late": 1, "amy": 2, "(none)": 1}
    assert breakdown("event:user", "2026-11-23") == {"(none)": 2, "zed": 1, "amy": 1}
    assert breakdown("visit:user", "2026-11-24") == {"late": 1}
    assert breakdown("event:user", "2026-11-23", "visit:user==late") == {"(none)": 1}
    engine.conn.close()
