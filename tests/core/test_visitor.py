from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from analyticsd.core.visitor import (
    DAY_MS,
    SESSION_GAP_MS,
    local_day,
    salt_day,
    salts_to_keep,
    visitor_id,
)
from analyticsd.http.client_facts import ClientProfiler, language_of
from analyticsd.storage.salts import SaltBook


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_visitor_id_is_keyed_and_stable() -> None:
    a = visitor_id(b"s" * 32, "site", "203.0.113.5", "UA")
    assert a == visitor_id(b"s" * 32, "site", "203.0.113.5", "UA")
    assert len(a) == 16
    assert a != visitor_id(b"t" * 32, "site", "203.0.113.5", "UA")  # another day
    assert a != visitor_id(b"s" * 32, "site2", "203.0.113.5", "UA")  # another site
    assert a != visitor_id(b"s" * 32, "site", "203.0.113.6", "UA")
    assert a != visitor_id(b"s" * 32, "site", "203.0.113.5", "UA2")
    assert "203.0.113.5" not in a


def test_salt_days() -> None:
    assert salt_day(0) == 0
    assert salt_day(DAY_MS - 1) == 0
    assert salt_day(DAY_MS) == 1
    assert salts_to_keep(10) == {9, 10, 11}


@pytest.mark.parametrize(
    ("instant", "tz", "day_offset", "minutes_in"),
    [
        ("2026-11-23T23:10:00+00:00", "UTC", 0, 23 * 60 + 10),
        ("2026-11-23T23:10:00+00:00", "Europe/Berlin", 1, 10),  # already the 24th there
        ("2026-11-23T03:00:00+00:00", "America/New_York", -1, 22 * 60),
        ("2026-11-23T11:00:00+00:00", "Pacific/Kiritimati", 1, 60),  # UTC+14
        ("2026-11-23T11:00:00+00:00", "Etc/GMT+12", -1, 23 * 60),  # UTC-12
    ],
)
def test_local_day(instant: str, tz: str, day_offset: int, minutes_in: int) -> None:
    utc_day = salt_day(ms(instant))
    day, since = local_day(ms(instant), tz)
    assert day == utc_day + day_offset
    assert day in salts_to_keep(utc_day)  # every timezone's day has a salt
    assert since == minutes_in * 60_000


def profiler(tmp_path: Path, now: int) -> ClientProfiler:
    book = SaltBook(str(tmp_path))
    book.rotate(salt_day(now))
    return ClientProfiler(None, None, lambda d: book.ensure(d, salt_day(now)))  # type: ignore[arg-type]


def test_a_visitor_is_one_id_for_the_sites_whole_local_day(tmp_path: Path) -> None:
    evening, late = ms("2026-11-23T21:00:00+00:00"), ms("2026-11-23T23:30:00+00:00")
    p = profiler(tmp_path, late)
    ip, ua = "203.0.113.5", "UA"
    # UTC site: both instants are the 23rd, one id.
    assert p.visitors("s", "UTC", ip, ua, evening)[0] == p.visitors("s", "UTC", ip, ua, late)[0]
    # Berlin: 22:00 on the 23rd and 00:30 on the 24th, two days, two ids;
    # just after local midnight the previous day's id comes along.
    before = p.visitors("s", "Europe/Berlin", ip, ua, evening)
    after = p.visitors("s", "Europe/Berlin", ip, ua, late)
    assert after[0] != before[0]
    assert after[1] == before[0]
    assert before[1] == ""  # 22:00 is not just after midnight


def test_previous_id_only_within_the_visit_gap(tmp_path: Path) -> None:
    midnight = ms("2026-11-24T00:00:00+00:00")
    p = profiler(tmp_path, midnight)
    assert p.visitors("s", "UTC", "ip", "ua", midnight + SESSION_GAP_MS)[1] != ""
    assert p.visitors("s", "UTC", "ip", "ua", midnight + SESSION_GAP_MS + 60_000)[1] == ""


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de-DE"),
        ("en", "en"),
        ("fr_ca", "fr-CA"),
        ("zh-Hant-TW", "zh-Hant"),
        ("", ""),
        (None, ""),
        ("*", ""),
        ("<script>", ""),
    ],
)
def test_language(header: str | None, lang: str) -> None:
    assert language_of(header) == lang
