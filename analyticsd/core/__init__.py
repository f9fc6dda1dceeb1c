"""Pure core: no IO, no trio, lmdb, sqlite3 or HTTP frameworks.

Everything here is deterministic given its inputs (time is passed in), so it is
tested with plain, fast, table-driven tests.
"""
