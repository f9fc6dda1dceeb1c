from __future__ import annotations

import msgspec
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
        ("[salts]\nredis_url = 'http://x'\n" + MINIMAL, "salts.redis_url: expected redis://"),
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
        (
            MINIMAL
            + "[[sites.goals]]\nevent = 'a'\nprops = { w = '1', x = '1', y = '1', z = '1' }\n",
            "sites[0].goals[0].props: at most 3 properties per goal, got 4",
        ),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\nprops = { plan = '' }\n",
            "sites[0].goals[0].props.plan: a value of 1-2000 characters",
        ),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\nprops = { plan = \"a\\nb\" }\n",
            "sites[0].goals[0].props.plan: a value of 1-2000 characters without control",
        ),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\nprops = { ' ' = 'x' }\n",
            "sites[0].goals[0].props. : a property name of 1-256 characters",
        ),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\nprops = { plan = 1 }\n",
            "sites[0].goals[0].props[...]: Expected `str`, got `int`",
        ),
        (
            # Same event, other props, no name of its own: two goals called "a".
            MINIMAL + "[[sites.goals]]\nevent = 'a'\n"
            "[[sites.goals]]\nevent = 'a'\nprops = { plan = 'pro' }\n",
            "sites[0].goals[1]: duplicate goal 'a' (a goal with property conditions needs a `name`",
        ),
        (
            MINIMAL + "[[sites.goals]]\nevent = 'a'\nprops = { p = '1' }\n"
            "[[sites.goals]]\nevent = 'a'\nname = 'b'\nprops = { p = '1' }\n",
            "sites[0].goals[1]: the same event, page and props as goal 'a'",
        ),
        (MINIMAL + "[[sites.goals]]\nevent = 'engagement'\n", "goals[0].event: 'engagement'"),
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


# Every ranged number: (section, key, rejected values, the limit the message
# states, accepted boundary values).
RANGES = [
    ("server", "max_body_bytes", (1023, 67108865), "between 1024 and 67108864", (1024, 67108864)),
    ("server", "read_timeout_s", (0, 300.01), "in (0, 300]", (0.001, 300)),
    ("server", "keep_alive_s", (0, 3600.01), "in (0, 3600]", (0.001, 3600)),
    ("server", "max_connections", (0, 100001), "between 1 and 100000", (1, 100000)),
    ("server", "header_timeout_s", (0, 300.01), "in (0, 300]", (0.001, 300)),
    (
        "server",
        "max_connections_per_client",
        (0, 100001),
        "between 1 and 100000",
        (1, 100000),
    ),
    ("storage", "spool_max_bytes", (4095, -1), "at least 4096", (4096,)),
    ("storage", "raw_event_retention_days", (7, 3651), "between 8 and 3650", (8, 3650)),
    (
        "storage",
        "hour_rollup_retention_days",
        (-1, 36501),
        "between 0 and 36500 (0: kept forever)",
        (0, 36500),
    ),
    ("storage", "run_log_retention_days", (0, 3651), "between 1 and 3650", (1, 3650)),
    ("storage", "column_memory_mb", (47, 1048577), "between 48 and 1048576", (48, 1048576)),
    ("aggregator", "flush_interval_s", (0, 3600.01), "in (0, 3600]", (0.001, 3600)),
    ("aggregator", "quiet_flush_s", (-0.01, 3600.01), "in [0, 3600] (0 turns it off)", (0, 3600)),
    (
        "aggregator",
        "memory_mb",
        (-1, 1048577),
        "between 0 and 1048576 (0: no budget)",
        (0, 1048576),
    ),
    (
        "aggregator",
        "max_values_per_day",
        (-1, 100_000_001),
        "between 0 and 100000000 (0: no cap)",
        (0, 100_000_000),
    ),
    ("forward", "probe_interval_s", (0.049, 3600.01), "in [0.05, 3600]", (0.05, 3600)),
    ("forward", "timeout_s", (0.049, 60.01), "in [0.05, 60]", (0.05, 60)),
    ("forward", "batch_size", (0, 10001), "between 1 and 10000", (1, 10000)),
    (
        "forward",
        "max_events_per_s",
        (-1, 10000001),
        "between 0 and 10000000 (0: no bound)",
        (0, 10000000),
    ),
    ("forward", "max_backoff_s", (0.099, 3600.01), "in [0.1, 3600]", (0.1, 3600)),
    ("hub", "max_deliveries", (0, 1001), "between 1 and 1000", (1, 1000)),
    ("hub", "claim_idle_s", (0.049, 86400.01), "in [0.05, 86400]", (0.05, 86400)),
    ("hub", "batch_size", (0, 10001), "between 1 and 10000", (1, 10000)),
    ("hub", "timeout_s", (0.049, 60.01), "in [0.05, 60]", (0.05, 60)),
    ("hub", "max_backoff_s", (0.099, 3600.01), "in [0.1, 3600]", (0.1, 3600)),
    (
        "forward",
        "retain_unconfirmed_s",
        (-0.01, 2592000.01),
        "in [0, 2592000]",
        (0, 2592000),
    ),
    ("hub", "trim_keep_s", (-0.01, 2592000.01), "in [0, 2592000]", (0, 2592000)),
    ("salts", "timeout_s", (0.049, 60.01), "in [0.05, 60]", (0.05, 60)),
]
FLOAT_KEYS = [(s, k) for s, k, _, limit, _ in RANGES if limit.startswith("in ")]


def _setting(section: str, key: str, value: object) -> str:
    return f"[{section}]\n{key} = {value}\n" + MINIMAL


@pytest.mark.parametrize(
    ("section", "key", "value", "limit"),
    [(s, k, v, limit) for s, k, bad, limit, _ in RANGES for v in bad],
)
def test_out_of_range_values_name_the_key_and_the_limit(
    section: str, key: str, value: float, limit: str
) -> None:
    with pytest.raises(ConfigError) as info:
        c.parse_toml(_setting(section, key, value))
    assert str(info.value) == f"{section}.{key}: must be {limit}, got {value!r}"


@pytest.mark.parametrize(
    ("section", "key", "value"), [(s, k, v) for s, k, _, _, ok in RANGES for v in ok]
)
def test_range_boundaries_are_accepted(section: str, key: str, value: float) -> None:
    cfg = c.parse_toml(_setting(section, key, value))
    assert getattr(getattr(cfg, section), key) == value


@pytest.mark.parametrize(("section", "key"), FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_keys_reject_nan_and_infinity(section: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{section}\.{key}: must be in "):
        c.parse_toml(_setting(section, key, value))


def _fields(cls: type) -> tuple[msgspec.inspect.Field, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return info.fields


def _bounded(t: object) -> bool:
    t = t.type if isinstance(t, msgspec.inspect.Metadata) else t
    return isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType) and (
        t.ge is not None or t.gt is not None
    )


def test_every_ranged_key_is_in_the_table() -> None:
    declared = {
        (section.name, f.name)
        for section in _fields(c.Config)
        if isinstance(section.type, msgspec.inspect.StructType)
        for f in section.type.fields
        if _bounded(f.type)
    }
    assert declared == {(s, k) for s, k, *_ in RANGES}


def _funnel(name: str = "'f'", steps: int = 2, extra: str = "", step: str = "") -> str:
    """A site with one funnel of `steps` page steps, then `step` if given."""
    pages = ", ".join([f"{{page = '/{i}'}}" for i in range(steps)] + ([step] if step else []))
    return f"{MINIMAL}[[sites.funnels]]\nname = {name}\nsteps = [{pages}]\n{extra}"


FUNNEL = "sites[0].funnels[0]"
METRIC = "[[metrics]]\nname = 'signups'\ntype = 'count'\n"


# Keys with a length, a choice or a pattern: (document, the message).
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_funnel(extra="window_s = 0\n"), f"{FUNNEL}.window_s: must be between 1 and 7776000"),
        (_funnel(extra="window_s = 7776001\n"), f"{FUNNEL}.window_s: must be between 1 and"),
        (_funnel(extra="order = 'any'\n"), f"{FUNNEL}.order: must be one of loose, strict"),
        (_funnel(steps=1), f"{FUNNEL}.steps: must have 2 to 20 steps, got 1"),
        (_funnel(steps=21), f"{FUNNEL}.steps: must have 2 to 20 steps, got 21"),
        (_funnel(name="''"), f"{FUNNEL}.name: must have 1 to 120 characters, got ''"),
        (_funnel(name=repr("f" * 121)), f"{FUNNEL}.name: must have 1 to 120 characters"),
        (
            _funnel(step="{page = 'x'}"),
            f"{FUNNEL}.steps[2].page: must be a path starting with /, got 'x'",
        ),
        (
            MINIMAL + METRIC.replace("count", "median"),
            "metrics[0].type: must be one of avg, count, distinct, max, min, percentile, "
            "ratio, sum, got 'median'",
        ),
        (MINIMAL + METRIC.replace("signups", "Signups"), "metrics[0].name: must be lower-case"),
        (MINIMAL + METRIC + "page = 'x'\n", "metrics[0].page: must be a path starting with /"),
        (MINIMAL + "[[sites.goals]]\npage = '\\n'\n", "sites[0].goals[0].page: must be a path"),
        ("[[sites]]\nid = 'a b'\n", "sites[0].id: must be a hostname-like id, got 'a b'"),
        ("[[sites]]\nid = ''\n", "sites[0].id: must be a hostname-like id, got ''"),
        (MINIMAL + "origins = ['*', 'ftp://x']\n", "sites[0].origins[1]: must be '*' or scheme"),
        (
            _setting("tracker", "script_path", "'js/a.js'"),
            "tracker.script_path: must be a URL path",
        ),
        (_setting("tracker", "event_path", "'/a b'"), "tracker.event_path: must be a URL path"),
        (_setting("storage", "data_dir", "''"), "storage.data_dir: must not be empty, got ''"),
        (_setting("forward", "stream", "''"), "forward.stream: must not be empty"),
        (_setting("hub", "stream", "''"), "hub.stream: must not be empty"),
        (_setting("hub", "group", "''"), "hub.group: must not be empty"),
    ],
)
def test_declared_rules_name_the_key_and_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        c.parse_toml(text)
    assert str(info.value).startswith(message)


def test_length_and_choice_boundaries_are_accepted() -> None:
    cfg = c.parse_toml(_funnel(name=repr("f" * 120), steps=20, extra="window_s = 7776000\n"))
    assert len(cfg.sites[0].funnels[0].steps) == 20
    cfg = c.parse_toml(_funnel(extra="window_s = 1\norder = 'strict'\n"))
    assert cfg.sites[0].funnels[0].order == "strict"
    every_type = {
        "count": "",
        "sum": "field = 'revenue'\n",
        "avg": "field = 'props.amount'\n",
        "min": "field = 'revenue'\n",
        "max": "field = 'props.ms'\n",
        "percentile": "field = 'props.ms'\np = 99.9\n",
        "distinct": "of = 'visitor'\n",
        "ratio": "numerator = 'visitors'\ndenominator = 'pageviews'\n",
    }
    for kind, needs in every_type.items():
        cfg = c.parse_toml(MINIMAL + METRIC.replace("count", kind) + needs)
        assert cfg.metrics[0].type == kind


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ("field = 'props.ms'\n", "metrics[0].p: percentile needs p, a number from 0 to 100"),
        ("field = 'props.ms'\np = 100.5\n", "metrics[0].p: must be a number from 0 to 100"),
        ("field = 'props.ms'\np = -0.1\n", "metrics[0].p: must be a number from 0 to 100"),
        ("field = 'props.ms'\np = nan\n", "metrics[0].p: must be a number from 0 to 100"),
        ("field = 'props.ms'\np = true\n", "metrics[0].p"),
        ("p = 50\n", 'metrics[0].field: percentile needs field = "revenue" or "props.NAME"'),
    ],
)
def test_percentile_needs_p_from_0_to_100(needs: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        c.parse_toml(MINIMAL + METRIC.replace("count", "percentile") + needs)
    assert str(info.value).startswith(message)


def test_percentile_bounds_are_accepted_and_p_is_for_percentile_only() -> None:
    for p in ("0", "100", "50"):
        cfg = c.parse_toml(
            MINIMAL + METRIC.replace("count", "percentile") + f"field = 'revenue'\np = {p}\n"
        )
        assert cfg.metrics[0].p == float(p)
    with pytest.raises(ConfigError, match=r"metrics\[0\]\.p: only percentile takes p"):
        c.parse_toml(MINIMAL + METRIC.replace("count", "max") + "field = 'revenue'\np = 5\n")


SECTIONS = [f.name for f in _fields(c.Config) if isinstance(f.type, msgspec.inspect.StructType)]


@pytest.mark.parametrize(
    ("text", "key"),
    [(f"[{s}]\nnope = 1\n" + MINIMAL, f"{s}.nope") for s in SECTIONS]
    + [
        (MINIMAL + "nope = 1\n", "sites[0].nope"),
        (MINIMAL + "[[sites.goals]]\nevent = 'a'\nnope = 1\n", "sites[0].goals[0].nope"),
        (_funnel(extra="nope = 1\n"), f"{FUNNEL}.nope"),
        (_funnel(step="{page = '/', nope = 1}"), f"{FUNNEL}.steps[2].nope"),
        (MINIMAL + METRIC + "nope = 1\n", "metrics[0].nope"),
    ],
)
def test_unknown_keys_are_rejected_with_their_path(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        c.parse_toml(text)
    assert str(info.value) == f"{key}: unknown key"


def test_a_config_built_in_code_is_held_to_the_same_declarations() -> None:
    # What a reload merges is built with structs.replace, not decoded.
    good = c.embedded_default()
    bad = msgspec.structs.replace(good, storage=c.StorageConfig(spool_max_bytes=1))
    with pytest.raises(ConfigError, match=r"^storage\.spool_max_bytes: must be at least 4096"):
        c.validate(bad)
    assert c.validate(good) is good


def test_goal_props_are_decoded() -> None:
    cfg = c.parse_toml(
        MINIMAL + "[[sites.goals]]\nevent = 'Purchase'\nname = 'Pro'\n"
        "props = { plan = 'pro', seats = '5' }\n"
        "[[sites.goals]]\nevent = 'Purchase'\n"
        "[[sites.goals]]\npage = '/pricing'\nprops = { ref = 'ad' }\n"
    )
    pro, plain, page = cfg.sites[0].goals
    assert (pro.display_name, pro.props) == ("Pro", {"plan": "pro", "seats": "5"})
    assert (plain.display_name, plain.props) == ("Purchase", {})
    assert (page.display_name, page.props) == ("Visit /pricing", {"ref": "ad"})
