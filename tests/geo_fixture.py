"""A small GeoIP City database built by the tests themselves (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and private ranges only: lookups, never traffic.
CITIES = {
    "203.0.113.0/24": ("DE", "Berlin", "Berlin"),
    "198.51.100.0/24": ("FR", "Île-de-France", "Paris"),
    "2001:db8:1::/48": ("JP", "Tokyo", "Tokyo"),
}
COUNTRY_ONLY = {"192.0.2.0/24": "NL"}


def build_city_db(
    path: Path, build_epoch: int | None = None, cities: dict[str, tuple[str, str, str]] = CITIES
) -> Path:
    """The City database; `build_epoch` (seconds) is its metadata build date
    (default: now)."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for net, (country, region, city) in cities.items():
        writer.insert_network(
            IPSet([net]),
            {
                "country": {"iso_code": country, "names": {"en": country}},
                "subdivisions": [{"iso_code": "X", "names": {"en": region}}],
                "city": {"names": {"en": city, "de": city + "-de"}},
            },
        )
    for net, country in COUNTRY_ONLY.items():
        writer.insert_network(IPSet([net]), {"country": {"iso_code": country}})
    _write(writer, path, build_epoch)
    return path


def build_country_code_db(path: Path, countries: dict[str, str]) -> Path:
    """A country database in ip-location-db's layout ({"country_code": "NL"}),
    the layout of the bundled one."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="country")
    for net, country in countries.items():
        writer.insert_network(IPSet([net]), {"country_code": country})
    _write(writer, path, None)
    return path


def _write(writer: MMDBWriter, path: Path, build_epoch: int | None) -> None:
    # Written elsewhere and moved into place, as a database update should be
    # (a reader of the old file keeps its mapping).
    tmp = path.with_name(f".{path.name}.tmp")
    if build_epoch is None:
        writer.to_db_file(str(tmp))
    else:
        with mock.patch("mmdb_writer.time.time", return_value=build_epoch):
            writer.to_db_file(str(tmp))
    tmp.replace(path)
