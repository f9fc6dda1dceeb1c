"""A small GeoIP City database built by the tests themselves (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation and private ranges only: lookups, never traffic.
CITIES = {
    "203.0.113.0/24": ("DE", "Berlin", "Berlin"),
    "198.51.100.0/24": ("FR", "Île-de-France", "Paris"),
    "2001:db8:1::/48": ("JP", "Tokyo", "Tokyo"),
}
COUNTRY_ONLY = {"192.0.2.0/24": "NL"}


def build_city_db(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for net, (country, region, city) in CITIES.items():
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
    writer.to_db_file(str(path))
    return path
