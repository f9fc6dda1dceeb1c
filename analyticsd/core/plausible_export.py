"""Plausible's CSV export: its files, their columns, and one row → our values (pure).

Plausible's export (Settings → Imports & Exports → Export) is a zip of
`imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv` files (the `imported_` prefix
may be missing), ClickHouse's CSVWithNames: a header line, strings quoted.
Each file is one table of daily counters per dimension value; which columns
a table has is Plausible's importer's own list (Plausible.Imported.
CSVImporter). Columns are found by name, so the extra columns of newer or
older exports (scroll depth, time on page, exits of pages) are ignored.

`visit_duration` is in seconds, summed over the visits of the row.

Values are turned into what our live rows store (`live_values`), so the
imported rows are filtered and grouped like live ones: the one place to
adapt when the live values change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from analyticsd.core.aggregate import day_number
from analyticsd.core.errors import ExportError
from analyticsd.core.source import DIRECT_NAME, classify

# Strings longer than this are no dimension value Plausible writes: a
# hostile or broken file, refused rather than stored.
MAX_TEXT = 2000
MAX_COUNT = 1 << 53


@dataclass(frozen=True)
class Table:
    """One file of the export and the table its rows go to."""

    name: str  # imported_pages ...
    texts: tuple[str, ...]  # dimension columns, in the order stored
    counts: tuple[str, ...]  # counter columns, in the order stored
    # Columns we derive from the file's (see live_values), stored after texts.
    derived: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return ("date", *self.texts, *self.counts)

    @property
    def stored(self) -> tuple[str, ...]:
        """The columns of our table after (site, day)."""
        return (*self.texts, *self.derived, *self.counts)


_VISIT = ("visitors", "visits", "visit_duration", "bounces", "pageviews")
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("imported_visitors", (),
              ("visitors", "pageviews", "bounces", "visits", "visit_duration")),
        Table(
            "imported_sources",
            ("source", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content",
             "utm_term"),
            ("pageviews", "visitors", "visits", "visit_duration", "bounces"),
            derived=("channel",),
        ),
        Table("imported_pages", ("hostname", "page"), ("visits", "visitors", "pageviews")),
        Table(
            "imported_entry_pages",
            ("entry_page",),
            ("visitors", "entrances", "visit_duration", "bounces", "pageviews"),
        ),
        Table(
            "imported_exit_pages",
            ("exit_page",),
            ("visitors", "visit_duration", "exits", "bounces", "pageviews"),
        ),
        Table("imported_custom_events", ("name", "link_url", "path"), ("visitors", "events")),
        # city is a GeoNames id in the export; kept as text (see the README).
        Table("imported_locations", ("country", "region", "city"), _VISIT),
        Table("imported_devices", ("device",), _VISIT, derived=("screen",)),
        Table("imported_browsers", ("browser", "browser_version"), _VISIT),
        Table(
            "imported_operating_systems",
            ("operating_system", "operating_system_version"),
            _VISIT,
        ),
    )
}  # fmt: skip
_FILENAME = re.compile(r"^(?:imported_)?([a-z_]+?)_(\d{8})_(\d{8})\.csv$")


@dataclass(frozen=True)
class ExportFile:
    table: Table
    first_day: int
    last_day: int


def parse_filename(name: str) -> ExportFile | None:
    """`imported_pages_20230101_20231231.csv` → its table and days; None if not one."""
    base = name.rsplit("/", 1)[-1]
    m = _FILENAME.match(base)
    if m is None:
        return None
    table = TABLES.get("imported_" + m.group(1))
    if table is None:
        return None
    try:
        first, last = (_compact_day(m.group(i)) for i in (2, 3))
    except ValueError:
        return None
    if last < first:
        return None
    return ExportFile(table, first, last)


def _compact_day(text: str) -> int:
    d = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return day_number(d.isoformat())


def header_indexes(table: Table, header: list[str], where: str) -> list[int]:
    """Where each of the table's columns is in the file's header."""
    names = [h.strip() for h in header]
    missing = [c for c in table.columns if c not in names]
    if missing:
        raise ExportError(
            f"{where}: the header lacks {', '.join(missing)} "
            f"(a {table.name} file has {', '.join(table.columns)})"
        )
    return [names.index(c) for c in table.columns]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_row(
    table: Table, fields: list[str], at: list[int], where: str
) -> tuple[int, tuple[str, ...], tuple[int, ...]]:
    """(day, texts, counts) of one CSV row; ExportError names what is wrong."""
    if len(fields) < len(at) or max(at) >= len(fields):
        raise ExportError(f"{where}: {len(fields)} fields, the header has more")
    raw_date = fields[at[0]]
    if not _DATE.match(raw_date):
        raise ExportError(f"{where}: date {raw_date[:40]!r} is not YYYY-MM-DD")
    try:
        day = day_number(raw_date)
    except ValueError:
        raise ExportError(f"{where}: date {raw_date!r} is not a calendar day") from None
    n_text = len(table.texts)
    texts = tuple(fields[i] for i in at[1 : 1 + n_text])
    for t in texts:
        if len(t) > MAX_TEXT:
            raise ExportError(f"{where}: a value is longer than {MAX_TEXT} characters")
    counts = []
    for name, i in zip(table.counts, at[1 + n_text :], strict=True):
        v = fields[i]
        if not v.isdigit() or int(v) >= MAX_COUNT:
            raise ExportError(f"{where}: {name} {v[:40]!r} is not a whole number ≥ 0")
        counts.append(int(v))
    return day, texts, tuple(counts)


def _device(screen: str) -> str:
    """Plausible's device is the screen size class; ours is the device kind."""
    return {"Desktop": "Desktop", "Laptop": "Desktop", "Mobile": "Mobile", "Tablet": "Tablet"}.get(
        screen, ""
    )


def _channel(source: str, referrer: str, utm_source: str, utm_medium: str) -> str:
    """Our channel of an imported source row, by the live classification: the
    referrer (host and path, as Plausible keeps it) and the UTM tags, else the
    source name alone (a search engine's or social network's name)."""
    if referrer or utm_source or utm_medium:
        ref = referrer if "://" in referrer or not referrer else "https://" + referrer
        return classify(ref, utm_source, utm_medium).channel
    return classify("", source).channel if source else classify("").channel


def live_values(table: Table, texts: tuple[str, ...]) -> tuple[str, ...]:
    """The stored texts of a row (Table.stored order, without the counts):
    Plausible's values as our live rows hold them."""
    if table.name == "imported_sources":
        source, referrer, utm_source, utm_medium = texts[0], texts[1], texts[2], texts[3]
        channel = _channel(source, referrer, utm_source, utm_medium)
        return (source or DIRECT_NAME, *texts[1:], channel)
    if table.name == "imported_devices":
        return (_device(texts[0]), texts[0])
    if table.name == "imported_locations":
        country = texts[0] if texts[0] not in ("ZZ", "\x00\x00") else ""
        city = texts[2] if texts[2] not in ("0", "") else ""
        return (country, texts[1], city)
    return texts
