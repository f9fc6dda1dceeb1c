from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx._client
import pytest

from tests.helpers import BROWSER_UA, Daemon, running_daemon


@pytest.fixture(autouse=True)
def _tests_speak_as_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    # "python-httpx/x.y" is (rightly) classified as a bot, and bot events are
    # not page views; requests in tests stand for a browser's beacons unless a
    # test sets its own User-Agent header.
    monkeypatch.setattr(httpx._client, "USER_AGENT", BROWSER_UA)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path) as d:
        yield d
