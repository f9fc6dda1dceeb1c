"""A server-side client of Plausible's Events API from PyPI, against /api/event.

`plausible-events` posts `{"domain", "name", "url", "props"}` with
application/json from a worker thread, as a backend reporting to Plausible
would, given the visitor's user agent as Plausible's API asks. Its sending
is used as published; only how it finds the machine's
public IP (it asks a web service) is replaced by a fixed documentation
address, so the test stays on loopback. The events must be stored as the
same events our own format stores: names, pages, props, the UTM source of
the URL, and the forwarded IP's visitor (one visit for both).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from plausible_events import PlausibleEvents

from tests.helpers import TEST_SITE, Daemon, running_daemon

# Plausible's Events API wants the visitor's user agent: a backend forwards it
# (python-requests' own is a bot's, and bots are not visitors, here as there).
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15"
)


class LoopbackEvents(PlausibleEvents):
    def _get_ip(self) -> str:
        return "203.0.113.40"


def stored(d: Daemon) -> list[tuple[str, str, dict[str, Any], int, str]]:
    db = sqlite3.connect(f"file:{d.config.parent / 'data' / 'stats.sqlite3'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT e.name, e.path, e.props, e.session, s.d_utm_source FROM events e "
        "JOIN sessions s ON s.id = e.session WHERE e.site = ? ORDER BY e.ts, e.rowid",
        (TEST_SITE,),
    ).fetchall()
    db.close()
    return [(n, p, json.loads(pr) if pr else {}, sid, utm) for n, p, pr, sid, utm in rows]


def test_plausible_events_client_works_unchanged(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as d:
        client = LoopbackEvents(
            domain=TEST_SITE, api=f"{d.url}/api/event", headers={"User-Agent": UA}, timeout=0.2
        )
        client.worker.daemon = True  # its worker waits for tasks forever
        client.pageview("/docs/start", utm={"source": "newsletter"})
        client.event("Signup", props={"plan": "pro", "seats": 3}, path="/pricing")
        deadline = time.monotonic() + 20
        rows = stored(d)
        while len(rows) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = stored(d)
        assert not client.queue, "the client still holds events it could not send"
        assert [(n, p, props) for n, p, props, _, _ in rows] == [
            ("pageview", "/docs/start", {}),
            ("Signup", "/pricing", {"plan": "pro", "seats": "3"}),  # the client sends strings
        ]
        sessions = {sid for _, _, _, sid, _ in rows}
        assert len(sessions) == 1  # one client, one visit
        assert rows[0][4] == "newsletter"
