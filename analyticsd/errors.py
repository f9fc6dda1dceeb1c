"""Public alias of the error tree (defined in the pure core so core can raise it)."""

from analyticsd.core.errors import (
    AnalyticsdError,
    CanonicalStoreError,
    ConfigError,
    DataDirLocked,
    ShuttingDown,
    SpoolError,
    SpoolFull,
    StatsStoreError,
    WireError,
)

__all__ = [
    "AnalyticsdError",
    "CanonicalStoreError",
    "ConfigError",
    "DataDirLocked",
    "ShuttingDown",
    "SpoolError",
    "SpoolFull",
    "StatsStoreError",
    "WireError",
]
