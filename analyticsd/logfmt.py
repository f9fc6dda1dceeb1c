"""Structured log lines (logfmt: key=value) on stderr, for the journal.

One line per record: `ts=… level=… logger=… msg="…"`, then any fields a call
passes as `extra={"fields": {...}}`, then `exc="…"` for a traceback (newlines
escaped, so a record stays one line). What we log never includes an IP
address or a user agent string: those exist only while a request is in
memory (SPEC §2.4), and tests scan the log for them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+@")


def _value(v: Any) -> str:
    text = str(v)
    if text and all(c in _BARE for c in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_value(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts += [f"{k}={_value(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append(f"exc={_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


def configure(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
