"""A reload reopens a GeoIP database replaced on disk, also when the setting
is the same and when the daemon runs on its built-in defaults (`make run`,
then `make geoip-update`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from analyticsd.core.config import GeoipConfig, embedded_default
from analyticsd.reloader import Reloader
from analyticsd.storage import geoip
from analyticsd.storage.geoip import GeoLookup
from analyticsd.wiring import ReloadState
from tests.geo_fixture import build_city_db

OLD, NEW = 1_780_000_000, 1_790_000_000


def parts_with(geo: GeoLookup) -> Any:
    return SimpleNamespace(
        reload=ReloadState(),
        now_ms=lambda: 0,
        geo=geo,
        profiler=SimpleNamespace(geo=geo),
        config=embedded_default(),
    )


async def test_built_in_defaults_reopen_a_replaced_bundled_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = build_city_db(tmp_path / "country.mmdb", build_epoch=OLD)
    monkeypatch.setattr(geoip, "bundled_path", lambda: str(path))
    first = GeoLookup("")
    parts = parts_with(first)
    reload = Reloader(parts, None)  # no file: the built-in defaults
    assert await reload(None) == "running on built-in defaults"  # type: ignore[arg-type]
    assert (parts.reload.ok, parts.reload.changed, parts.geo) == (True, [], first)

    build_city_db(path, build_epoch=NEW)  # moved into place, as geoip_db.py does
    await reload(None)  # type: ignore[arg-type]
    assert (parts.reload.ok, parts.reload.changed) == (True, ["geoip"])
    assert parts.geo is not first
    assert parts.profiler.geo is parts.geo
    assert parts.geo.describe()["build_epoch"] == NEW
    assert not first.enabled  # the old one is closed
    await reload(None)  # type: ignore[arg-type]
    assert parts.reload.changed == []  # the same file: nothing to do


async def test_a_configured_file_replaced_under_the_same_setting(tmp_path: Path) -> None:
    path = build_city_db(tmp_path / "city.mmdb", build_epoch=OLD)
    config = embedded_default()
    config = msgspec.structs.replace(config, geoip=GeoipConfig(database=str(path)))
    parts = parts_with(GeoLookup(str(path)))
    parts.config = config
    reload = Reloader(parts, lambda: config)

    class NoSupervisor:
        async def restart_forwarder(self) -> None:
            raise AssertionError("forwarding did not change")

    await reload(NoSupervisor())  # type: ignore[arg-type]
    assert parts.reload.changed == []
    build_city_db(path, build_epoch=NEW, cities={"203.0.113.0/24": ("AT", "Wien", "Wien")})
    await reload(NoSupervisor())  # type: ignore[arg-type]
    assert parts.reload.changed == ["geoip"]
    assert parts.geo.lookup("203.0.113.4").country == "AT"
