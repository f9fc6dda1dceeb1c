"""Storage: the LMDB spool, the SQLite statistics store and the salt file."""
