"""`analyticsd replay-dead-letters`: dead-lettered entries back into the stream.

An entry lands in the dead-letter stream after failing `max_deliveries`
times, most often because its site was not yet in the hub's `[[sites]]`.
Once the cause is fixed the operator replays them: each entry's original
fields are appended to the main stream and the dead letter deleted in one
MULTI, so an entry is never in neither stream (at worst, after a lost reply,
in both: the hub dedupes by event_id). Blocking, for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from analyticsd.storage.canonical import _call, connect

PREFIX = b"entry:"
CHUNK = 500


@dataclass(frozen=True)
class Replayed:
    replayed: int
    skipped: int  # dead letters without the original fields (not ours)


def replay(url: str, stream: str, dead: str, timeout_s: float, limit: int = 0) -> Replayed:
    """Move up to `limit` dead letters (0: all) back into `stream`, oldest first."""
    r = connect(url, timeout_s)
    done = skipped = 0
    try:
        start = "-"
        while not limit or done < limit:
            count = CHUNK if not limit else min(CHUNK, limit - done)
            rows: Any = _call("XRANGE", partial(r.xrange, dead, start, "+", count=count))
            if not rows:
                break
            pipe = r.pipeline(transaction=True)
            for dead_id, fields in rows:
                original = {k[len(PREFIX) :]: v for k, v in fields.items() if k.startswith(PREFIX)}
                if original:
                    pipe.xadd(stream, original)
                    pipe.xdel(dead, dead_id)
                    done += 1
                else:
                    skipped += 1
            _call("replay", pipe.execute)
            start = "(" + rows[-1][0].decode()
    finally:
        r.close()
    return Replayed(done, skipped)
