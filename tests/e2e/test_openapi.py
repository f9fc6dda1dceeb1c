"""The running daemon against its own /api/openapi.json (schemathesis).

Requests are generated from the document (valid and invalid parameters,
bodies and tokens); every answer must be a non-5xx that matches the
documented status codes, content types and schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from analyticsd.http.openapi import document
from tests import web
from tests.helpers import TEST_SITE, Daemon, free_port, write_config

TOKEN = "schema-token-0123456789abcdef"
schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("openapi")
    port = free_port()
    extra = f'[api]\ntokens = ["{TOKEN}"]\n\n[[metrics]]\nname = "signups"\ntype = "count"\n'
    extra += 'event = "Signup"\n'
    site = '[[sites.funnels]]\nname = "f"\nsteps = [{page = "/"}, {event = "Signup"}]\n'
    d = Daemon(write_config(tmp, port, extra=extra, site_extra=site), port)
    d.start()
    now = datetime.now(UTC).isoformat()
    events = [
        {"siteId": TEST_SITE, "eventType": name, "path": path, "timestamp": now, "userId": f"u{i}",
         "props": {"plan": "pro"}}
        for i in range(20)
        for name, path in (("pageview", "/"), ("pageview", "/pricing"), ("Signup", "/pricing"))
    ]  # fmt: skip
    r = web.post(
        f"{d.url}/api/batch", json={"events": events}, headers={"User-Agent": "Mozilla/5.0"}
    )
    assert r.status_code == 202
    d.wait_caught_up()
    try:
        yield d
    finally:
        d.kill()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case: schemathesis.Case, daemon: Daemon) -> None:
    if case.query and "site_id" in case.query and hash(str(case.query)) % 3:
        case.query["site_id"] = TEST_SITE  # mostly the real site, so queries reach the data
    # Not checked: that every schema-valid request is accepted. Rules such as
    # "timestamp at most 7 days old", "a known metric name" or "an existing
    # site" are not expressible in the document, so schema-valid requests
    # may rightly get a 400 naming the problem.
    case.call_and_validate(
        base_url=daemon.url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )
