"""The durable LMDB spool.

Invariants:
* A write is acknowledged only after its transaction committed with fsync
  (LMDB `sync=True`); one transaction carries every operation waiting (group
  commit), so one fsync is shared by many requests.
* An event is written once: the receiver's append is its only durable write.
  Records are never rewritten; consumers (the aggregator, the forwarder) read
  them past their own durable cursors, and a record is deleted once every
  consumer's cursor is past it.
* Sequence numbers are monotonic and never reused. The records of one
  transaction are stored together, as groups of at most GROUP_RECORDS
  (a msgpack array of the encoded records, in order), each under the
  big-endian sequence of its *last* record: key order is spool order, a
  seek to a sequence lands on the group that holds it, and pruning needs
  no value reads. Why groups: py-lmdb releases the GIL around every call,
  so each per-record put, read or delete in a worker thread costs a GIL
  hand-over with the busy event loop (measured: 50,000 cursor steps took
  52 ms alone and 763 ms beside a busy thread); per group, that cost is
  paid once per transaction instead of once per event.
* Enrichment rule sets are stored under the first sequence they apply to: a
  `PublishRules` op committed when the next sequence is S makes its rules
  those of every record numbered S or later, until the next one. So the
  rules of a record are a function of its sequence, the same for every
  consumer and after any restart; a rule set is deleted once no record
  that uses it is left.
* The byte quota is checked before appending; when the quota, the LMDB map
  or the disk is exhausted the append fails with SpoolFull, never silently,
  and the transaction is retried without appends so cursor moves (which
  free space) still go through.
* Every client-supplied eventId is indexed for DEDUPE_WINDOW_MS; a repeat is
  reported as a duplicate and not stored again. Ids minted by the receiver
  are fresh random UUIDs, so they are not indexed (that halves the random
  B-tree writes per event for trackers that send no ids).

Methods are blocking: the spool writer actor calls `write` exactly once per
`trio.to_thread.run_sync`, so every transaction lives in one thread.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import lmdb
import msgspec

from analyticsd.core import faults
from analyticsd.core.errors import SpoolError, SpoolFull
from analyticsd.core.messages import Advance, Append, PublishRules, WriteOp

# Longer than the oldest timestamp the receiver accepts (7 days) plus clock
# skew, so a retried event is always found here.
DEDUPE_WINDOW_MS = 8 * 24 * 3600 * 1000
PRUNE_CHUNK = 5000
# Records per stored group: bounds one value (and one decode) to ~0.5 MiB.
GROUP_RECORDS = 1024
# Framing per record in a group (a msgpack bin header), counted in the quota.
FRAMING = 5

_U64 = struct.Struct(">Q")
_NEXT_SEQ = b"next_seq"
_BYTES = b"bytes"
_COUNT = b"records"
_CURSOR = b"cursor:"
_RULES = b"rules:"
# Tables of the development builds before 0.1.0 (raw and enriched records).
_OLD_TABLES = (b"raw", b"enriched")


def u64(n: int) -> bytes:
    return _U64.pack(n)


def from_u64(b: bytes) -> int:
    value: int = _U64.unpack(b)[0]
    return value


@dataclass(frozen=True)
class SpoolStats:
    events: int
    size_bytes: int
    quota_bytes: int
    next_seq: int
    cursors: dict[str, int]
    # The oldest record not yet consumed by everyone.
    oldest_record: bytes | None


@dataclass
class _TxnState:
    """What one write transaction changes, applied only once it committed."""

    next_seq: int
    size: int  # bytes of stored groups
    count: int
    pending: list[bytes] = field(default_factory=list)  # records not yet in groups
    pending_size: int = 0  # their bytes with framing, for the quota


_group_decoder = msgspec.msgpack.Decoder(list[bytes])
_group_encoder = msgspec.msgpack.Encoder()


def _encode_group(records: list[bytes]) -> bytes:
    return _group_encoder.encode(records)


def _decode_group(value: Any) -> list[bytes]:
    return _group_decoder.decode(value)


def _group_size(value: Any) -> int:
    """The number of records in a stored group, from its array header."""
    head = value[0]
    if 0x90 <= head <= 0x9F:
        return int(head - 0x90)
    width = 2 if head == 0xDC else 4
    return int.from_bytes(bytes(value[1 : 1 + width]), "big")


@dataclass(frozen=True)
class SpoolRead:
    rows: list[tuple[int, bytes]]  # (sequence, encoded record)
    rule_sets: list[tuple[int, bytes]]  # (first sequence, encoded rule set)


def _open_env(path: str, quota_bytes: int, readonly: bool, map_size: int | None) -> Any:
    try:
        return lmdb.open(
            path,
            # Room for the quota, pages freed but not yet reusable, and the
            # eventId index; sparse, so unused map costs no disk.
            map_size=map_size or 2 * quota_bytes + (1 << 30),
            max_dbs=8,
            sync=True,
            metasync=True,
            readahead=False,
            readonly=readonly,
            lock=not readonly,
            max_readers=256,
        )
    except lmdb.Error as e:
        raise SpoolError(f"cannot open spool at {path}: {e}") from e


class Spool:
    def __init__(
        self,
        path: str,
        quota_bytes: int,
        consumers: Sequence[str],
        readonly: bool = False,
        map_size: int | None = None,
    ) -> None:
        self.quota_bytes = quota_bytes
        self.consumers = tuple(consumers)
        if not readonly:
            os.makedirs(path, exist_ok=True)
        self.env = _open_env(path, quota_bytes, readonly, map_size)
        try:
            self._refuse_old_layout(path)
            create = not readonly
            self._records = self.env.open_db(b"records", create=create)
            self._eid = self.env.open_db(b"eid", create=create)
            self._eid_time = self.env.open_db(b"eid_time", create=create)
            self._meta = self.env.open_db(b"meta", create=create)
            with self.env.begin() as txn:
                raw_next = txn.get(_NEXT_SEQ, db=self._meta)
                raw_bytes = txn.get(_BYTES, db=self._meta)
                raw_count = txn.get(_COUNT, db=self._meta)
        except lmdb.Error as e:
            self.env.close()
            raise SpoolError(f"cannot open spool at {path}: {e}") from e
        except SpoolError:
            self.env.close()
            raise
        self.next_seq = from_u64(raw_next) if raw_next else 1
        self.bytes = from_u64(raw_bytes) if raw_bytes else 0
        self.count = from_u64(raw_count) if raw_count else 0
        # Why the last append was refused, until one is stored again.
        self.refusing: str | None = None
        self.path = path

    def _refuse_old_layout(self, path: str) -> None:
        # Those builds never shipped; guessing at their records could count
        # events wrongly, so the operator decides (drain with that build, or
        # delete the spool) instead.
        with self.env.begin() as txn:
            if any(txn.get(name) is not None for name in _OLD_TABLES):
                raise SpoolError(
                    f"the spool at {path} was written by a development build older than "
                    "0.1.0 (raw/enriched tables); let that build drain it, or remove it"
                )

    def close(self) -> None:
        self.env.close()

    def raise_next_seq(self, minimum: int) -> bool:
        """Make the next sequence at least `minimum`; True if it had to move.

        The statistics store resumes after the last sequence it counted and
        names visits by sequences. A spool younger than it (deleted, lost, or
        a database restored from a backup into a new data dir) would start at
        1 again: its events would be taken for counted and its visits would
        reuse ids. Starting after the store's last sequence prevents both."""
        if self.next_seq >= minimum:
            return False
        try:
            with self.env.begin(write=True) as txn:
                txn.put(_NEXT_SEQ, u64(minimum), db=self._meta)
        except lmdb.Error as e:
            raise SpoolError(f"cannot move the spool sequence: {e}") from e
        self.next_seq = minimum
        return True

    # -- writing -----------------------------------------------------------

    def write(self, ops: Sequence[WriteOp], now_ms: int) -> None:
        """Apply all ops in one fsynced transaction; results go into the ops.

        If a transaction with appends fails (the LMDB map or the disk is full,
        or the disk answers with an I/O error), its appends are refused with
        SpoolFull and it is retried without them, so cursor moves (which free
        space) still make progress.
        """
        try:
            self._write_txn(ops, now_ms, appends=True)
            self._note_appends(ops)
            return
        except lmdb.Error as e:
            if not any(isinstance(op, Append) for op in ops):
                raise SpoolError(f"spool write failed: {e}") from e
            why = self._why_refused(e)
        # Whatever failed the commit, the appends are refused (503, retry
        # later) and the rest is tried alone: a transaction that only moves
        # cursors frees space, so consumers go on and the spool drains.
        self.refusing = why
        for op in ops:
            if isinstance(op, Append):
                op.stored = []
                op.error = SpoolFull(f"{why}; retry later")
        try:
            self._write_txn(ops, now_ms, appends=False)
        except lmdb.Error as e2:
            raise SpoolError(f"spool write failed: {e2}") from e2

    def _why_refused(self, e: lmdb.Error) -> str:
        if isinstance(e, lmdb.MapFullError):
            return "spool storage map is full"
        if isinstance(e, lmdb.DiskError) or _nearly_full(self.path):
            # LMDB reports a short write at the end of the disk as EIO, not
            # ENOSPC; the free space tells the two apart.
            return f"disk full at {self.path}"
        return f"cannot write the spool at {self.path}: {e}"

    def _note_appends(self, ops: Sequence[WriteOp]) -> None:
        for op in ops:
            if isinstance(op, Append):
                if op.error is None:
                    self.refusing = None
                    return
                self.refusing = str(op.error)

    def _write_txn(self, ops: Sequence[WriteOp], now_ms: int, appends: bool) -> None:
        state = _TxnState(self.next_seq, self.bytes, self.count)
        with self.env.begin(write=True) as txn:
            for op in ops:
                if isinstance(op, Append):
                    if appends:
                        self._append(txn, op, state, now_ms)
                elif isinstance(op, Advance):
                    txn.put(_CURSOR + op.consumer.encode(), u64(op.seq), db=self._meta)
                else:
                    self._publish(txn, op, state.next_seq + len(state.pending))
            self._store_groups(txn, state)
            self._prune_consumed(txn, state)
            self._prune_eids(txn, now_ms - DEDUPE_WINDOW_MS)
            txn.put(_NEXT_SEQ, u64(state.next_seq), db=self._meta)
            txn.put(_BYTES, u64(state.size), db=self._meta)
            txn.put(_COUNT, u64(state.count), db=self._meta)
            faults.hit("spool.commit")
        # Only after the commit returned (fsync done) is the new state ours.
        self.next_seq, self.bytes, self.count = state.next_seq, state.size, state.count

    def _append(self, txn: Any, op: Append, state: _TxnState, now_ms: int) -> None:
        size = sum(len(r.data) + FRAMING for r in op.records)
        if state.size + state.pending_size + size > self.quota_bytes:
            op.error = SpoolFull(f"spool quota of {self.quota_bytes} bytes reached; retry later")
            return
        stored: list[bool] = []
        index: dict[bytes, bytes] = {}
        stamp = u64(now_ms)
        for rec in op.records:
            if rec.indexed:
                key = bytes.fromhex(rec.event_id.replace("-", ""))  # canonical UUID text
                if key in index or txn.get(key, db=self._eid) is not None:
                    stored.append(False)
                    continue
                index[key] = u64(state.next_seq + len(state.pending))
            state.pending.append(rec.data)
            state.pending_size += len(rec.data) + FRAMING
            stored.append(True)
        if index:
            txn.cursor(db=self._eid).putmulti(index.items())
            txn.cursor(db=self._eid_time).putmulti((stamp + k, b"") for k in index)
        op.stored = stored

    def _store_groups(self, txn: Any, state: _TxnState) -> None:
        """Write the transaction's new records as groups (sequences follow on)."""
        pending, state.pending, state.pending_size = state.pending, [], 0
        groups: list[tuple[bytes, bytes]] = []
        for start in range(0, len(pending), GROUP_RECORDS):
            part = pending[start : start + GROUP_RECORDS]
            value = _encode_group(part)
            groups.append((u64(state.next_seq + start + len(part) - 1), value))
            state.size += len(value)
        state.next_seq += len(pending)
        state.count += len(pending)
        # Sequence keys only grow, so groups append (LMDB's fast path).
        _, added = txn.cursor(db=self._records).putmulti(groups, append=True)
        if added != len(groups):  # an out-of-order key: never acknowledge what is not stored
            raise SpoolError(f"spool append stored {added} of {len(groups)} record groups")

    def _publish(self, txn: Any, op: PublishRules, next_seq: int) -> None:
        kept = self._rule_keys(txn)  # a handful: one per reload that changed them
        if kept and kept[-1][1] == op.rules:
            op.start_seq = kept[-1][0]  # unchanged: nothing to store
            return
        txn.put(_RULES + u64(next_seq), op.rules, db=self._meta)
        op.start_seq = next_seq

    def _min_consumer_cursor(self, txn: Any) -> int:
        positions = [txn.get(_CURSOR + c.encode(), db=self._meta) for c in self.consumers]
        return min((from_u64(p) if p else 0) for p in positions) if positions else 0

    def _prune_consumed(self, txn: Any, state: _TxnState) -> None:
        done = self._min_consumer_cursor(txn)
        done_key = u64(done)
        cur = txn.cursor(db=self._records)
        removed = 0
        if cur.first():
            # Keys are the groups' last sequences, big-endian: bytes order
            # is number order, and a group is done once its key is.
            while removed < PRUNE_CHUNK and b"" < cur.key() <= done_key:  # b"": past the end
                value = cur.value()
                state.size -= len(value)
                state.count -= _group_size(value)
                cur.delete()
                removed += 1
        state.size, state.count = max(state.size, 0), max(state.count, 0)
        self._prune_rules(txn, done)

    def _prune_rules(self, txn: Any, done: int) -> None:
        """Delete rule sets whose successor starts at or before the first
        record still kept: no record left uses them."""
        starts = [s for s, _ in self._rule_keys(txn)]
        for start, following in pairwise(starts):
            if following <= done + 1:
                txn.delete(_RULES + u64(start), db=self._meta)

    def _rule_keys(self, txn: Any) -> list[tuple[int, bytes]]:
        cur = txn.cursor(db=self._meta)
        out: list[tuple[int, bytes]] = []
        if cur.set_range(_RULES):
            for view, value in cur:
                key = bytes(view)  # a buffer in a read transaction with buffers=True
                if not key.startswith(_RULES):
                    break
                out.append((from_u64(key[len(_RULES) :]), bytes(value)))
        return out

    def _prune_eids(self, txn: Any, before_ms: int) -> None:
        cur = txn.cursor(db=self._eid_time)
        removed = 0
        if not cur.first():
            return
        while removed < PRUNE_CHUNK:
            key = cur.key()
            if not key or from_u64(key[:8]) >= before_ms:
                break
            txn.delete(key[8:], db=self._eid)
            cur.delete()
            removed += 1

    # -- reading -----------------------------------------------------------

    def cursor(self, consumer: str) -> int:
        with self.env.begin() as txn:
            raw = txn.get(_CURSOR + consumer.encode(), db=self._meta)
        return from_u64(raw) if raw else 0

    def read(self, after_seq: int, limit: int) -> SpoolRead:
        """About `limit` records (whole groups) with sequences above
        `after_seq`, in order, and the rule sets seen in the same
        transaction (so a record is never read before the rule set that
        applies to it)."""
        rows: list[tuple[int, bytes]] = []
        with self.env.begin(buffers=True) as txn:
            cur = txn.cursor(db=self._records)
            if cur.set_range(u64(after_seq + 1)):
                for key, value in cur.iternext():
                    last = from_u64(bytes(key))
                    records = _decode_group(value)
                    first = last - len(records) + 1
                    skip = max(after_seq + 1 - first, 0)
                    rows += zip(range(first + skip, last + 1), records[skip:], strict=True)
                    if len(rows) >= limit:
                        break
            return SpoolRead(rows, self._rule_keys(txn) if rows else [])

    def rule_sets(self) -> list[tuple[int, bytes]]:
        """(first sequence, encoded rule set) of every rule set kept, in order."""
        with self.env.begin() as txn:
            return self._rule_keys(txn)

    def first_after(self, seq: int) -> bytes | None:
        """The first record with a sequence above `seq`."""
        rows = self.read(seq, 1).rows
        return rows[0][1] if rows else None

    def stats(self) -> SpoolStats:
        with self.env.begin() as txn:
            raw_count = txn.get(_COUNT, db=self._meta)
            cursors = {}
            for c in self.consumers:
                v = txn.get(_CURSOR + c.encode(), db=self._meta)
                cursors[c] = from_u64(v) if v else 0
            raw_next = txn.get(_NEXT_SEQ, db=self._meta)
            raw_bytes = txn.get(_BYTES, db=self._meta)
            cur = txn.cursor(db=self._records)
            oldest = _decode_group(cur.value())[0] if cur.first() else None
        return SpoolStats(
            events=from_u64(raw_count) if raw_count else 0,
            size_bytes=from_u64(raw_bytes) if raw_bytes else 0,
            quota_bytes=self.quota_bytes,
            next_seq=from_u64(raw_next) if raw_next else 1,
            cursors=cursors,
            oldest_record=oldest,
        )


# Below this many free bytes a failed commit is taken for a full disk: one
# group commit writes at most a few MiB of pages.
NEARLY_FULL_BYTES = 8 << 20


def _nearly_full(path: str) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < NEARLY_FULL_BYTES
