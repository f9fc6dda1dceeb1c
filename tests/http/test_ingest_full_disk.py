"""Ingest with no salt for the day and a full disk to store one on (a first
start on a full disk): 503 with Retry-After naming the cause, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from analyticsd.core.config import parse_toml
from analyticsd.core.messages import Append
from analyticsd.core.useragent import UAClassifier
from analyticsd.http.client_facts import ClientProfiler
from analyticsd.http.ingest import IngestHandler, Request, RequestHeaders
from analyticsd.storage.geoip import GeoLookup
from analyticsd.storage.salts import SaltBook
from analyticsd.wiring import _salt_source
from tests.disk import fill, mount_tmpfs

NOW = 1_764_000_000_000
CONFIG = """
[[sites]]
id = "s"
origins = ["https://s.example"]
"""


async def test_no_salt_on_a_full_disk_is_a_503_naming_the_disk(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "d", "64k") as disk:
        filler = fill(disk)
        salts = SaltBook(str(disk))  # a first start: no salts yet
        stored: list[Append] = []

        async def submit(op: Append) -> None:
            stored.append(op)

        profiler = ClientProfiler(UAClassifier(), GeoLookup(""), _salt_source(salts, lambda: NOW))
        ingest = IngestHandler(parse_toml(CONFIG), submit, profiler, lambda: NOW, lambda n: None)
        body = json.dumps({"siteId": "s", "eventType": "pageview", "path": "/"}).encode()
        req = Request(
            "POST",
            "/api/event",
            RequestHeaders([(b"content-type", b"application/json")]),
            body,
            "203.0.113.5",
        )
        res = await ingest.handle(req)
        assert res.status == 503
        assert (b"retry-after", b"30") in res.headers
        assert b"disk full at" in res.body
        assert stored == []
        filler.unlink()  # room again: the salt is made and the event taken
        res = await ingest.handle(req)
        assert res.status == 202
        assert len(stored) == 1
