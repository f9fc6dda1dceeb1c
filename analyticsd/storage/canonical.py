"""The canonical store: a Redis stream, through redis-py's blocking client.

Every method is one blocking round trip (or one pipeline), meant to run in
`trio.to_thread.run_sync`; redis and socket errors are translated into
CanonicalStoreError here, so actors never see a redis exception. The client
retries nothing by itself: the forwarder and the hub decide when to try again
(with backoff, and with the state shown in `status`).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from analyticsd.core.errors import CanonicalStoreError
from analyticsd.core.stream_entry import EVENT, EVENT_ID

T = TypeVar("T")
Fields = dict[bytes, bytes]
# (stream entry id, its fields); fields are None for an entry deleted from the
# stream while it was pending.
Entry = tuple[bytes, Fields | None]


def connect(url: str, timeout_s: float) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        decode_responses=False,
    )


def durability_warnings(info: dict[str, Any]) -> list[str]:
    """What in Redis's INFO makes a forwarded event losable once the edge has
    deleted it from its spool (README: "Redis settings this depends on")."""
    warnings = []
    if str(info.get("aof_enabled", "1")) == "0":
        warnings.append(
            "Redis runs without AOF (appendonly no): a Redis crash loses "
            "forwarded events the edges have already deleted"
        )
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {policy}: under memory pressure it may "
            "evict the stream; use noeviction"
        )
    return warnings


def _call(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (redis.RedisError, OSError) as e:
        raise CanonicalStoreError(f"{what}: {type(e).__name__}: {e}") from e


# One script call adds a whole batch: a quarter of the client CPU of a
# pipeline of XADDs (redis-py packs and parses every command in Python, and
# the forwarder shares the core with ingest), and a batch is in the stream
# entirely or not at all, since a script runs atomically.
_APPEND_BATCH = f"""
for i = 1, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '*', '{EVENT_ID.decode()}', ARGV[i], '{EVENT.decode()}', ARGV[i + 1])
end
return #ARGV / 2
"""


class StreamProducer:
    """The edge's side: appends forwarded events to the stream."""

    def __init__(self, url: str, stream: str, timeout_s: float) -> None:
        self.stream = stream
        self._r = connect(url, timeout_s)
        # EVALSHA, loading the script again when Redis forgot it (a restart).
        self._append = self._r.register_script(_APPEND_BATCH)

    def ping(self) -> None:
        _call("PING", self._r.ping)

    def durability_warnings(self) -> list[str]:
        info: Any = _call("INFO", lambda: {**self._r.info("persistence"), **self._r.info("memory")})
        return durability_warnings(info)

    def append(self, entries: Sequence[tuple[bytes, bytes]]) -> None:
        """XADD every (event_id, event), in order, in one round trip. If the
        reply is lost the batch is sent again: delivery is at-least-once and
        the hub dedupes by event_id."""
        args = [part for entry in entries for part in entry]
        added = _call("XADD", lambda: self._append(keys=[self.stream], args=args))
        if added != len(entries):
            raise CanonicalStoreError(f"XADD: stored {added} of {len(entries)} entries")

    def close(self) -> None:
        self._r.close()


@dataclass(frozen=True)
class Claimed:
    next_start: bytes
    entries: list[Entry]


class StreamConsumer:
    """The hub's side: a consumer in a consumer group."""

    def __init__(
        self, url: str, stream: str, group: str, consumer: str, dead: str, timeout_s: float
    ) -> None:
        self.stream, self.group, self.consumer, self.dead = stream, group, consumer, dead
        self._r = connect(url, timeout_s)

    def ensure_group(self) -> None:
        """Create the group at the start of the stream (a hub started after
        the edges must still see everything they sent); fine if it exists."""

        def create() -> None:
            try:
                self._r.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

        _call("XGROUP CREATE", create)

    def read(self, pending_after: bytes | None, count: int, block_ms: int | None) -> list[Entry]:
        """New entries (`>`, waiting up to `block_ms`) when `pending_after` is
        None; else the entries delivered to this consumer earlier and never
        acknowledged (after a crash), with ids above `pending_after`."""
        own_pending = pending_after is not None
        start = pending_after.decode() if pending_after is not None else ">"
        reply: Any = _call(
            "XREADGROUP",
            lambda: self._r.xreadgroup(
                self.group,
                self.consumer,
                {self.stream: start},
                count=count,
                block=None if own_pending else block_ms,
            ),
        )
        if not reply:
            return []
        return [(eid, fields or None) for eid, fields in reply[0][1]]

    def ack(self, ids: Sequence[bytes]) -> None:
        if ids:
            _call("XACK", lambda: self._r.xack(self.stream, self.group, *ids))

    def claim(self, min_idle_ms: int, start: bytes, count: int) -> Claimed:
        """Take over entries idle at least `min_idle_ms` in any consumer."""
        reply: Any = _call(
            "XAUTOCLAIM",
            lambda: self._r.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_ms, start, count=count
            ),
        )
        return Claimed(reply[0], [(eid, fields or None) for eid, fields in reply[1]])

    def deliveries(self, entry_id: bytes) -> int:
        """How many times the entry was delivered (0 if no longer pending)."""
        rows: Any = _call(
            "XPENDING",
            lambda: self._r.xpending_range(self.stream, self.group, entry_id, entry_id, 1),
        )
        return int(rows[0]["times_delivered"]) if rows else 0

    def dead_letter(self, entry_id: bytes, fields: Fields, reason: str, deliveries: int) -> None:
        """Move an entry to the dead-letter stream: XADD there and XACK here in
        one MULTI, so it is never both lost and acknowledged."""

        def move() -> None:
            pipe = self._r.pipeline(transaction=True)
            dead_fields: dict[bytes, bytes] = {
                b"stream": self.stream.encode(),
                b"id": entry_id,
                b"reason": reason.encode(),
                b"deliveries": str(deliveries).encode(),
            }
            for key, value in fields.items():
                dead_fields[b"entry:" + key] = value
            pipe.xadd(self.dead, dead_fields)  # type: ignore[arg-type]
            pipe.xack(self.stream, self.group, entry_id)
            pipe.execute()

        _call("dead-letter", move)

    def close(self) -> None:
        self._r.close()


HUB_CONSUMER_FILE = "hub-consumer"


def hub_consumer_name(data_dir: str) -> str:
    """This data dir's consumer name in the hub group, made once and kept: a
    restarted hub must find the entries it was given and never acknowledged."""
    path = os.path.join(data_dir, HUB_CONSUMER_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            name = f.read().strip()
        if name:
            return name
    except FileNotFoundError:
        pass
    name = f"{socket.gethostname()}-{secrets.token_hex(4)}"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return name
