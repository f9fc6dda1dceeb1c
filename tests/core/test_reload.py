from __future__ import annotations

from analyticsd.core.config import parse_toml
from analyticsd.core.reload import changed_sections, merge_live

BASE = """
[server]
listen = "127.0.0.1:8787"
[api]
tokens = ["a-token-0123456789"]
[[sites]]
id = "one.example"
timezone = "Europe/Berlin"
"""


def test_live_sections_apply_and_the_rest_waits_for_a_restart() -> None:
    running = parse_toml(BASE)
    new = parse_toml(
        BASE.replace('tokens = ["a-token-0123456789"]', 'tokens = ["b-token-0123456789"]')
        .replace("8787", "9999")
        .replace("Europe/Berlin", "Asia/Tokyo")
        + '[[sites]]\nid = "two.example"\ntimezone = "America/Lima"\n'
    )
    merged, restart = merge_live(running, new)
    assert merged.api.tokens == ("b-token-0123456789",)
    assert merged.server.listen == "127.0.0.1:8787"  # kept until a restart
    assert [(s.id, s.timezone) for s in merged.sites] == [
        ("one.example", "Europe/Berlin"),  # counted buckets are in this zone
        ("two.example", "America/Lima"),  # a new site starts in its own
    ]
    assert sorted(restart) == ["server", "sites.one.example.timezone"]
    assert changed_sections(running, merged) == ["api", "sites"]


def test_an_unchanged_file_changes_nothing() -> None:
    running = parse_toml(BASE)
    merged, restart = merge_live(running, parse_toml(BASE))
    assert merged == running
    assert restart == []
