"""The one error tree of analyticsd.

Foreign exceptions (lmdb, sqlite3, OS) are translated into these where they
enter our code, so callers catch a meaning, not a library.
"""

from __future__ import annotations


class AnalyticsdError(Exception):
    """Base of every error analyticsd raises on purpose."""


class ConfigError(AnalyticsdError):
    """The configuration file is unreadable or invalid; the message names the key."""


class SpoolError(AnalyticsdError):
    """The spool could not complete an operation."""


class SpoolFull(SpoolError):
    """The spool byte quota (or the LMDB map) is exhausted; retry later."""


class ShuttingDown(SpoolError):
    """The daemon is stopping and accepts no new writes."""


class BodyError(AnalyticsdError):
    """A request body is not a JSON document we can read; the message says why."""


class ForwardedForError(AnalyticsdError):
    """A trusted proxy's X-Forwarded-For header is malformed; the message says how."""


class NoSalt(AnalyticsdError):
    """No visitor salt exists for a day (a clock far off the salt rotation's)."""


class InvalidTransition(AnalyticsdError):
    """A link outcome that cannot happen in the link's state (a bug, not an input)."""


class SaltStoreError(AnalyticsdError):
    """The visitor salts file could not be written (a full disk, permissions)."""


class SaltAgreementError(AnalyticsdError):
    """A day's visitor salt could not be agreed with the deployment through Redis."""


class StatsStoreError(AnalyticsdError):
    """The SQLite statistics store failed."""


class ExportError(AnalyticsdError):
    """A Plausible export that cannot be imported; names the file and line."""


class CanonicalStoreError(AnalyticsdError):
    """The canonical store (Redis) is unreachable, timed out or refused a command."""


class WireError(AnalyticsdError):
    """A stream entry is not a valid forwarded event; the message says why."""


class DataDirError(AnalyticsdError):
    """The data directory cannot be created, opened or locked; the message names it."""


class DataDirLocked(DataDirError):
    """Another analyticsd process already owns the data directory."""


class ListenError(AnalyticsdError):
    """A listen address cannot be bound (in use, not permitted, not local); the message names it."""


class DaemonUnreachable(AnalyticsdError):
    """No running daemon answers for this configuration (status, reload)."""


class QueryError(AnalyticsdError):
    """A stats query is invalid; `param` names the offending parameter.

    `whole`: the message is a sentence that names the parameter itself (the
    Stats API v1 answers Plausible's wording), so it is shown without it."""

    def __init__(self, param: str, message: str, whole: bool = False) -> None:
        super().__init__(message if whole else f"{param}: {message}")
        self.param = param
        self.message = message
        self.whole = whole


class QueryTimeout(StatsStoreError):
    """A stats query ran past its time limit and was interrupted."""


class RecomputeRefused(AnalyticsdError):
    """A day's rollups cannot be rebuilt (its per-event rows are gone, or it is in the future)."""
