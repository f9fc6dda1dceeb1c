"""analyticsd: a self-hosted, privacy-first web analytics daemon."""

__version__ = "0.1.0"
