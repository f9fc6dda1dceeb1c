"""The canonical store: a Redis stream, through redis-py's blocking client.

Every method is one blocking round trip (or one pipeline), meant to run in
`trio.to_thread.run_sync`; redis and socket errors are translated into
CanonicalStoreError here, so actors never see a redis exception. The client
retries nothing by itself: the forwarder and the hub decide when to try again
(with backoff, and with the state shown in `status`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from analyticsd.core.errors import CanonicalStoreError
from analyticsd.core.stream_entry import EVENT, EVENT_ID, ORIGIN, SEQ

log = logging.getLogger(__name__)
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
#
# It is also a compare-and-set on the edge's mark (README "Loss detection"):
# the hash `<stream>:sent` holds, per origin, the last spool sequence this
# edge appended, written with the entries, so Redis keeps or loses both
# together (a mark without its stream counts as no mark). With `expected` the
# mark the edge last wrote and `mark` this batch's last sequence:
# * found >= mark: the batch is there already (a reply lost on the way back,
#   or a restart after the append but before the edge's cursor moved);
# * expected <= found < mark: append (entries up to `found` are duplicates the
#   hub drops), the mark becomes `mark`;
# * found < expected: Redis lost entries it had acknowledged; refused, so
#   nothing new lands behind the hole, and the caller is told what is there.
# KEYS: stream, sent-marks. ARGV: origin, expected, mark, then (event_id,
# event, seq) per entry.
_APPEND_BATCH = f"""
local found = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if found > 0 and redis.call('EXISTS', KEYS[1]) == 0 then found = 0 end
if found >= tonumber(ARGV[3]) then return {{0, found}} end
if found < tonumber(ARGV[2]) then return {{-1, found}} end
for i = 4, #ARGV, 3 do
  redis.call('XADD', KEYS[1], '*', '{EVENT_ID.decode()}', ARGV[i], '{EVENT.decode()}', ARGV[i + 1],
             '{ORIGIN.decode()}', ARGV[1], '{SEQ.decode()}', ARGV[i + 2])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return {{(#ARGV - 3) / 3, found}}
"""


def sent_marks_key(stream: str) -> str:
    return f"{stream}:sent"


def confirmed_key(stream: str) -> str:
    return f"{stream}:confirmed"


@dataclass(frozen=True)
class Appended:
    """What one append found: `lost` when the stream's mark for this origin
    was not the one expected (Redis lost entries it had acknowledged)."""

    added: int
    mark: int
    lost: bool = False


class StreamProducer:
    """The edge's side: appends forwarded events to the stream."""

    def __init__(self, url: str, stream: str, timeout_s: float, origin: str = "edge") -> None:
        self.stream, self.origin = stream, origin
        self._marks, self._confirmed = sent_marks_key(stream), confirmed_key(stream)
        self._r = connect(url, timeout_s)
        # EVALSHA, loading the script again when Redis forgot it (a restart).
        self._append = self._r.register_script(_APPEND_BATCH)
        # False once Redis refused scripts (NOPERM: some managed plans).
        self.scripts = True

    def ping(self) -> None:
        _call("PING", self._r.ping)

    def durability_warnings(self) -> list[str]:
        info: Any = _call("INFO", lambda: {**self._r.info("persistence"), **self._r.info("memory")})
        return durability_warnings(info)

    def append(
        self, entries: Sequence[tuple[bytes, bytes, int]], expected: int, mark: int
    ) -> Appended:
        """XADD every (event_id, event, seq), in order, in one round trip, if
        this origin's mark in Redis is `expected`; the mark becomes `mark`.
        If the reply is lost the batch is sent again and found already there."""
        if self.scripts:
            try:
                return self._append_by_script(entries, expected, mark)
            except CanonicalStoreError as e:
                if not isinstance(e.__cause__, redis.exceptions.NoPermissionError):
                    raise
                log.warning("Redis refuses scripts (%s); appending with MULTI instead", e)
                self.scripts = False
        return _call("XADD", lambda: self._append_by_multi(entries, expected, mark))

    def _append_by_script(
        self, entries: Sequence[tuple[bytes, bytes, int]], expected: int, mark: int
    ) -> Appended:
        args: list[bytes | str | int] = [self.origin, str(expected), str(mark)]
        for event_id, event, seq in entries:
            args += [event_id, event, str(seq)]
        added, found = _call(
            "XADD", lambda: self._append(keys=[self.stream, self._marks], args=args)
        )
        if added == -1:
            return Appended(0, int(found), lost=True)
        if added not in (0, len(entries)):
            raise CanonicalStoreError(f"XADD: stored {added} of {len(entries)} entries")
        return Appended(int(added), int(found))

    def _append_by_multi(
        self, entries: Sequence[tuple[bytes, bytes, int]], expected: int, mark: int
    ) -> Appended:
        """The script's fallback: WATCH the mark, check it, then MULTI/EXEC the
        XADDs and the new mark, so the batch is still all-or-nothing and
        still refused when the mark shows a loss."""
        with self._r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self._marks, self.stream)  # type: ignore[no-untyped-call]
                    found = self._found(pipe)
                    if found >= mark:
                        return Appended(0, found)
                    if found < expected:
                        return Appended(0, found, lost=True)
                    pipe.multi()
                    for event_id, event, seq in entries:
                        fields = _tagged(event_id, event, self.origin, seq)
                        pipe.xadd(self.stream, fields)  # type: ignore[arg-type]
                    pipe.hset(self._marks, self.origin, str(mark))
                    pipe.execute()
                    return Appended(len(entries), found)
                except redis.WatchError:
                    continue  # the mark moved under us: look again

    def _found(self, r: Any) -> int:
        """This origin's mark as the script reads it (0 without the stream)."""
        raw = r.hget(self._marks, self.origin)
        return int(raw) if raw and r.exists(self.stream) else 0

    def progress(self) -> tuple[int, int]:
        """(this origin's mark in the stream, the last sequence of ours the
        hub confirmed as committed); 0 for either when Redis has none."""

        def read() -> tuple[int, int]:
            pipe = self._r.pipeline(transaction=False)
            pipe.hget(self._marks, self.origin)
            pipe.exists(self.stream)
            pipe.hget(self._confirmed, self.origin)
            mark, stream_exists, confirmed = pipe.execute()
            return int(mark or 0) if stream_exists else 0, int(confirmed or 0)

        return _call("HGET", read)

    def close(self) -> None:
        self._r.close()


def _tagged(event_id: bytes, event: bytes, origin: str, seq: int) -> dict[bytes, bytes]:
    return {EVENT_ID: event_id, EVENT: event, ORIGIN: origin.encode(), SEQ: str(seq).encode()}


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

    def ack_and_confirm(self, ids: Sequence[bytes], upto: dict[str, int]) -> None:
        """XACK, and tell each origin the last sequence of its the hub has
        committed, in one round trip. Called only after the commit, so an
        edge never drops a record the hub does not durably hold."""
        if not upto:
            self.ack(ids)
            return

        def both() -> None:
            pipe = self._r.pipeline(transaction=False)
            if ids:
                pipe.xack(self.stream, self.group, *ids)
            mapping = {origin: str(seq) for origin, seq in upto.items()}
            pipe.hset(confirmed_key(self.stream), mapping=mapping)  # type: ignore[arg-type]
            pipe.execute()

        _call("XACK", both)

    def confirm(self, upto: dict[str, int]) -> None:
        self.ack_and_confirm([], upto)

    def lag(self) -> GroupLag:
        """This group's backlog as Redis counts it (XINFO GROUPS)."""
        groups: Any = _call("XINFO GROUPS", lambda: self._r.xinfo_groups(self.stream))
        for g in groups:
            if _text(g["name"]) == self.group:
                lag = g.get("lag")
                return GroupLag(None if lag is None else int(lag), int(g["pending"]))
        return GroupLag(None, 0)

    def trim(self, keep_ms: int) -> int:
        """XTRIM MINID: drop entries every group has acknowledged and that are
        older than `keep_ms` by Redis's clock; returns how many went."""
        return _call("XTRIM", lambda: self._trim(keep_ms))

    def _trim(self, keep_ms: int) -> int:
        groups: Any = self._r.xinfo_groups(self.stream)
        if not groups:
            return 0  # nobody has read anything: keep it all
        secs, micros = self._r.time()
        bound = (secs * 1000 + micros // 1000 - keep_ms, 0)
        for g in groups:
            bound = min(bound, _id(_text(g["last-delivered-id"])))
            if int(g["pending"]):
                summary: Any = self._r.xpending(self.stream, _text(g["name"]))
                bound = min(bound, _id(_text(summary["min"])))
        if bound <= (0, 0):
            return 0
        # MINID keeps `bound` itself (the first unacknowledged entry); `~`
        # frees only whole macro nodes below it, far cheaper, never more.
        minid = f"{bound[0]}-{bound[1]}"
        return int(self._r.xtrim(self.stream, minid=minid, approximate=True))

    def close(self) -> None:
        self._r.close()


@dataclass(frozen=True)
class GroupLag:
    """Entries not yet delivered to the group (None: Redis cannot tell, e.g.
    the group was made after entries were deleted) and those delivered but
    not acknowledged."""

    lag: int | None
    pending: int


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
