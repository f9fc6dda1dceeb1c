"""Public alias of the error tree (defined in the pure core so core can raise it)."""

from analyticsd.core.errors import (
    AnalyticsdError,
    ConfigError,
    DataDirLocked,
    ShuttingDown,
    SpoolError,
    SpoolFull,
    StatsStoreError,
)

__all__ = [
    "AnalyticsdError",
    "ConfigError",
    "DataDirLocked",
    "ShuttingDown",
    "SpoolError",
    "SpoolFull",
    "StatsStoreError",
]
