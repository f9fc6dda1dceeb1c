"""The durable LMDB spool.

Invariants:
* A write is acknowledged only after its transaction committed with fsync
  (LMDB `sync=True`); one transaction carries every operation waiting (group
  commit), so one fsync is shared by many requests.
* Sequence numbers are monotonic and never reused; each record is stored
  under its big-endian sequence key, so key order is spool order.
* Raw records (IP and user agent) are replaced by enriched records in the same
  transaction that enriches them; enriched records are deleted once every
  consumer's durable cursor is past them.
* The byte quota is checked before appending, keeping ENRICH_RESERVE bytes
  free per record not yet enriched; when the quota or the LMDB map is
  exhausted the append fails with SpoolFull, never silently.
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
from dataclasses import dataclass
from itertools import islice
from typing import Any

import lmdb

from analyticsd.core import faults
from analyticsd.core.errors import SpoolError, SpoolFull
from analyticsd.core.messages import Append, Enrich, WriteOp

# Longer than the oldest timestamp the receiver accepts (7 days) plus clock
# skew, so a retried event is always found here.
DEDUPE_WINDOW_MS = 8 * 24 * 3600 * 1000
PRUNE_CHUNK = 5000

_U64 = struct.Struct(">Q")
_NEXT_SEQ = b"next_seq"
_BYTES = b"bytes"
_CURSOR = b"cursor:"
ENRICHER = "enricher"


def u64(n: int) -> bytes:
    return _U64.pack(n)


def from_u64(b: bytes) -> int:
    value: int = _U64.unpack(b)[0]
    return value


# Bytes kept free per raw record for its growth when enriched (typically
# 20-60: a channel, a short source name, goal names).
ENRICH_RESERVE = 96


@dataclass(frozen=True)
class SpoolStats:
    raw_events: int
    enriched_events: int
    size_bytes: int
    quota_bytes: int
    next_seq: int
    cursors: dict[str, int]
    # The oldest record not yet consumed by everyone (raw or enriched bytes).
    oldest_record: bytes | None


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
        try:
            self.env = lmdb.open(
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
            self._raw = self.env.open_db(b"raw", create=not readonly)
            self._enriched = self.env.open_db(b"enriched", create=not readonly)
            self._eid = self.env.open_db(b"eid", create=not readonly)
            self._eid_time = self.env.open_db(b"eid_time", create=not readonly)
            self._meta = self.env.open_db(b"meta", create=not readonly)
        except lmdb.Error as e:
            raise SpoolError(f"cannot open spool at {path}: {e}") from e
        with self.env.begin() as txn:
            raw_next = txn.get(_NEXT_SEQ, db=self._meta)
            self.next_seq = from_u64(raw_next) if raw_next else 1
            raw_bytes = txn.get(_BYTES, db=self._meta)
            self.bytes = from_u64(raw_bytes) if raw_bytes else 0

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

        If the LMDB map is full the transaction is retried without appends, so
        enrichment and cursor moves (which free space) still make progress.
        """
        try:
            self._write_txn(ops, now_ms, appends=True)
        except lmdb.MapFullError:
            for op in ops:
                if isinstance(op, Append):
                    op.stored = []
                    op.error = SpoolFull("spool storage map is full")
            try:
                self._write_txn(ops, now_ms, appends=False)
            except lmdb.Error as e:
                raise SpoolError(f"spool write failed: {e}") from e
        except lmdb.Error as e:
            raise SpoolError(f"spool write failed: {e}") from e

    def _write_txn(self, ops: Sequence[WriteOp], now_ms: int, appends: bool) -> None:
        next_seq, total = self.next_seq, self.bytes
        with self.env.begin(write=True) as txn:
            for op in ops:
                if isinstance(op, Append):
                    if appends:
                        next_seq, total = self._append(txn, op, next_seq, total, now_ms)
                elif isinstance(op, Enrich):
                    total = self._enrich(txn, op, total)
                else:
                    txn.put(_CURSOR + op.consumer.encode(), u64(op.seq), db=self._meta)
            total = self._prune_consumed(txn, total)
            self._prune_eids(txn, now_ms - DEDUPE_WINDOW_MS)
            txn.put(_NEXT_SEQ, u64(next_seq), db=self._meta)
            txn.put(_BYTES, u64(total), db=self._meta)
            faults.hit("spool.commit")
        # Only after the commit returned (fsync done) is the new state ours.
        self.next_seq, self.bytes = next_seq, total

    def _append(
        self, txn: Any, op: Append, next_seq: int, total: int, now_ms: int
    ) -> tuple[int, int]:
        # Enrichment makes a record a little larger (traffic source, goals):
        # room for that is kept for every record not yet enriched, so the
        # spool stays within its quota once they are.
        unenriched = txn.stat(self._raw)["entries"] + len(op.records)
        size = sum(len(r.data) for r in op.records) + unenriched * ENRICH_RESERVE
        if total + size > self.quota_bytes:
            op.error = SpoolFull(f"spool quota of {self.quota_bytes} bytes reached; retry later")
            return next_seq, total
        stored: list[bool] = []
        raw: list[tuple[bytes, bytes]] = []
        index: dict[bytes, bytes] = {}
        stamp = u64(now_ms)
        for rec in op.records:
            if rec.indexed:
                key = bytes.fromhex(rec.event_id.replace("-", ""))  # canonical UUID text
                if key in index or txn.get(key, db=self._eid) is not None:
                    stored.append(False)
                    continue
                index[key] = u64(next_seq)
            raw.append((u64(next_seq), rec.data))
            next_seq += 1
            total += len(rec.data)
            stored.append(True)
        # Bulk puts in C; sequence keys only grow, so raw records append.
        _, added = txn.cursor(db=self._raw).putmulti(raw, append=True)
        if added != len(raw):  # an out-of-order key: never acknowledge what is not stored
            raise SpoolError(f"spool append stored {added} of {len(raw)} records")
        if index:
            txn.cursor(db=self._eid).putmulti(index.items())
            txn.cursor(db=self._eid_time).putmulti((stamp + k, b"") for k in index)
        op.stored = stored
        return next_seq, total

    def _enrich(self, txn: Any, op: Enrich, total: int) -> int:
        raw = txn.cursor(db=self._raw)
        enriched: list[tuple[bytes, bytes]] = []
        for seq, data in op.items:
            key = u64(seq)
            if not raw.set_key(key):
                continue  # already enriched (a retry after a crash)
            total -= len(raw.value())
            raw.delete()
            if data is not None:
                enriched.append((key, data))
                total += len(data)
        # Enrichment goes in sequence order, so its keys append (LMDB's fast
        # path); should one not (it never should), the plain put places it.
        cur = txn.cursor(db=self._enriched)
        _, added = cur.putmulti(enriched, append=True)
        if added != len(enriched):
            cur.putmulti(enriched[added:])
        txn.put(_CURSOR + ENRICHER.encode(), u64(op.upto_seq), db=self._meta)
        return total

    def _min_consumer_cursor(self, txn: Any) -> int:
        positions = [txn.get(_CURSOR + c.encode(), db=self._meta) for c in self.consumers]
        return min((from_u64(p) if p else 0) for p in positions) if positions else 0

    def _prune_consumed(self, txn: Any, total: int) -> int:
        done = self._min_consumer_cursor(txn)
        cur = txn.cursor(db=self._enriched)
        removed = 0
        if not cur.first():
            return total
        while removed < PRUNE_CHUNK:
            key = cur.key()
            if not key or from_u64(key) > done:
                break
            total -= len(cur.value())
            cur.delete()
            removed += 1
        return max(total, 0)

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

    def _read(self, db: Any, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        with self.env.begin(buffers=False) as txn:
            cur = txn.cursor(db=db)
            if not cur.set_range(u64(after_seq + 1)):
                return out
            unpack = _U64.unpack
            out = [(unpack(k)[0], v) for k, v in islice(cur.iternext(), limit)]
        return out

    def read_raw(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return self._read(self._raw, after_seq, limit)

    def read_enriched(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        return self._read(self._enriched, after_seq, limit)

    def first_after(self, seq: int) -> bytes | None:
        """The first record (enriched, else raw) with a sequence above `seq`."""
        key = u64(seq + 1)
        with self.env.begin() as txn:
            for db in (self._enriched, self._raw):
                cur = txn.cursor(db=db)
                if cur.set_range(key):
                    return bytes(cur.value())
        return None

    def stats(self) -> SpoolStats:
        with self.env.begin() as txn:
            raw_n = txn.stat(self._raw)["entries"]
            enr_n = txn.stat(self._enriched)["entries"]
            cursors = {}
            for c in (ENRICHER, *self.consumers):
                v = txn.get(_CURSOR + c.encode(), db=self._meta)
                cursors[c] = from_u64(v) if v else 0
            raw_next = txn.get(_NEXT_SEQ, db=self._meta)
            raw_bytes = txn.get(_BYTES, db=self._meta)
            oldest = None
            for db in (self._enriched, self._raw):
                cur = txn.cursor(db=db)
                if cur.first():
                    oldest = bytes(cur.value())
                    break
        return SpoolStats(
            raw_events=raw_n,
            enriched_events=enr_n,
            size_bytes=from_u64(raw_bytes) if raw_bytes else 0,
            quota_bytes=self.quota_bytes,
            next_seq=from_u64(raw_next) if raw_next else 1,
            cursors=cursors,
            oldest_record=oldest,
        )
