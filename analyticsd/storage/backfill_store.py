"""What backfill keeps and asks in the data dir: its visitor-hash key, and
which of a file's eventIds the per-event rows already hold.

* `backfill.key` (0600): the key of the visitor hash of backfilled events
  (core.backfill.visitor_id), made on first use. It never leaves the data
  dir, so a stored visitor id cannot be matched to a client's id by anyone
  who only has the database.
* Dedupe: an eventId the spool no longer indexes (received more than its
  window ago) is found in `events` by (site, ts, event_id): one seek of the
  (site, ts) index per line, never a scan.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterable

from analyticsd.core.errors import StatsStoreError
from analyticsd.storage.access_files import _write_private

KEY_FILE = "backfill.key"
KEY_BYTES = 32


def key(data_dir: str) -> bytes:
    """The data dir's backfill key, made (and saved) when there is none."""
    path = os.path.join(data_dir, KEY_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) == KEY_BYTES:
            return data
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StatsStoreError(f"cannot read {path}: {e}") from e
    data = secrets.token_bytes(KEY_BYTES)
    try:
        _write_private(path, data)
    except OSError as e:
        # Without a saved key, ids hashed now would not match those of a
        # later run: refuse rather than count one visitor as two.
        raise StatsStoreError(f"cannot save {path}: {e}") from e
    return data


def known_ids(conn: sqlite3.Connection, site: str, events: Iterable[tuple[int, str]]) -> set[str]:
    """The eventIds among (timestamp ms, eventId) that have a per-event row."""
    found: set[str] = set()
    try:
        for ts, eid in events:
            row = conn.execute(
                "SELECT 1 FROM events WHERE site = ? AND ts = ? AND event_id = ? LIMIT 1",
                (site, ts, eid),
            ).fetchone()
            if row is not None:
                found.add(eid)
    except sqlite3.Error as e:
        raise StatsStoreError(f"cannot look up event ids: {e}") from e
    return found
