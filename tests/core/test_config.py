from __future__ import annotations

import pytest

from analyticsd.core import config as c
from analyticsd.core.errors import ConfigError

MINIMAL = '[[sites]]\nid = "example.com"\n'


def test_embedded_default_runs_on_loopback_with_a_demo_site() -> None:
    cfg = c.embedded_default()
    assert cfg.server.listen == "127.0.0.1:8787"
    assert cfg.storage.data_dir == "var"
    assert cfg.forward.enabled is False
    assert [s.id for s in cfg.sites] == ["localhost"]


def test_defaults_fill_missing_sections() -> None:
    cfg = c.parse_toml(MINIMAL)
    assert cfg.server.max_body_bytes == 65536
    assert cfg.aggregator.flush_interval_s == 5.0
    assert cfg.sites[0].timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nlisten_on = 1\n" + MINIMAL, "server.listen_on: unknown key"),
        ("bogus = 1\n" + MINIMAL, "bogus: unknown key"),
        (MINIMAL + "colour = 'red'\n", "sites[0].colour: unknown key"),
        ("[server]\nlisten = 8787\n" + MINIMAL, "server.listen: Expected `str`"),
        ("[server]\nlisten = 'nohost'\n" + MINIMAL, "server.listen: expected HOST:PORT"),
        ("[server]\ntrusted_proxies = ['x']\n" + MINIMAL, "server.trusted_proxies[0]"),
        ("[storage]\nspool_max_bytes = 1\n" + MINIMAL, "storage.spool_max_bytes"),
        ("[aggregator]\nflush_interval_s = 0\n" + MINIMAL, "aggregator.flush_interval_s"),
        (MINIMAL + "timezone = 'Mars/Olympus'\n", "sites[0].timezone"),
        (MINIMAL + "origins = ['example.com']\n", "sites[0].origins[0]"),
        (MINIMAL + MINIMAL, "sites[1].id: duplicate"),
        ("[server]\n", "sites: at least one"),
        ("[forward]\nredis_url = 'http://x'\n" + MINIMAL, "forward.redis_url: expected redis://"),
        ("[hub]\nredis_url = ''\n" + MINIMAL, "hub.redis_url"),
        ("[hub]\nredis_url = 'redis://h:port/0'\n" + MINIMAL, "hub.redis_url"),
        ("[hub]\nredis_url = 'redis://h:6379/zero'\n" + MINIMAL, "hub.redis_url"),
        ("[hub]\nredis_url = 'redis://h/0?colour=red'\n" + MINIMAL, "hub.redis_url"),
        ("[hub]\nredis_url = 'redis://:pw@/0'\n" + MINIMAL, "hub.redis_url"),
        ("[forward]\nbatch_size = 0\n" + MINIMAL, "forward.batch_size"),
        ("[forward]\nmax_events_per_s = -1\n" + MINIMAL, "forward.max_events_per_s"),
        ("[forward]\nprobe_interval_s = 0\n" + MINIMAL, "forward.probe_interval_s"),
        ("[hub]\nmax_deliveries = 0\n" + MINIMAL, "hub.max_deliveries"),
        ("[hub]\ndead_letter_stream = 'analyticsd:events'\n" + MINIMAL, "hub.dead_letter_stream"),
        (
            "[forward]\nenabled = true\n[hub]\nenabled = true\n" + MINIMAL,
            "forward.stream: a hub must not forward into the stream it consumes",
        ),
        ("[[sites]\n", "not valid TOML"),
        ("[storage]\nraw_event_retention_days = 3\n" + MINIMAL, "raw_event_retention_days"),
        (MINIMAL + "[[sites.goals]]\n", "sites[0].goals[0]: set exactly one"),
        (MINIMAL + "[[sites.goals]]\nevent = 'a'\npage = '/b'\n", "sites[0].goals[0]: set"),
        (MINIMAL + "[[sites.goals]]\npage = 'thanks'\n", "sites[0].goals[0].page"),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\n[[sites.goals]]\nevent = 'a'\n",
            "sites[0].goals[1]: duplicate goal 'a'",
        ),
        (MINIMAL + "[[sites.goals]]\nevent = 'a'\ncolour = 1\n", "goals[0].colour: unknown"),
    ],
)
def test_invalid_configs_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        c.parse_toml(text)
    assert message in str(info.value)


def test_forwarding_and_hub_settings() -> None:
    cfg = c.parse_toml(
        "[forward]\nenabled = true\nredis_url = 'rediss://:secret@redis.example:6380/1'\n"
        "[hub]\nenabled = true\nstream = 'edges'\n" + MINIMAL
    )
    assert cfg.forward.enabled
    assert cfg.hub.enabled
    assert cfg.forward.redis_url.startswith("rediss://")
    assert cfg.hub.dead_letters == "edges:dead"
    for url in (
        "redis://localhost",
        "redis://user:p%40ss@10.0.0.5:6379/2",
        "rediss://:pw@redis.example:6380/0?ssl_ca_certs=/etc/ssl/ca.pem&ssl_check_hostname=true",
        "unix:///run/redis/redis.sock?db=1",
    ):
        assert c.parse_toml(f"[forward]\nredis_url = '{url}'\n" + MINIMAL).forward.redis_url == url
    assert c.parse_toml(MINIMAL).forward.max_events_per_s == 20_000


def test_config_is_frozen() -> None:
    cfg = c.parse_toml(MINIMAL)
    with pytest.raises(AttributeError):
        cfg.server.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_resolution_order() -> None:
    files = {
        "/etc/analyticsd/analyticsd.toml": MINIMAL.encode(),
        "/env.toml": b'[[sites]]\nid = "env.example"\n',
        "/arg.toml": b'[[sites]]\nid = "arg.example"\n',
    }

    def load(path: str | None, env: dict[str, str], present: set[str]) -> str:
        cfg, _ = c.load(path, env, lambda p: p in present, lambda p: files[p])
        return cfg.sites[0].id

    everything = set(files)
    assert load("/arg.toml", {c.CONFIG_ENV_VAR: "/env.toml"}, everything) == "arg.example"
    assert load(None, {c.CONFIG_ENV_VAR: "/env.toml"}, everything) == "env.example"
    assert load(None, {}, everything) == "example.com"
    assert load(None, {}, set()) == "localhost"


def test_unreadable_file_is_a_config_error() -> None:
    def read(path: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(ConfigError, match=r"cannot read /x\.toml"):
        c.load("/x.toml", {}, lambda p: False, read)


def test_example_config_in_repo_is_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "config" / "analyticsd.toml").read_text()
    cfg = c.parse_toml(text)
    assert cfg.sites
