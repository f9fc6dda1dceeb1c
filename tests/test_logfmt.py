from __future__ import annotations

import logging
import re
import sys

from analyticsd.logfmt import LogfmtFormatter

LINE = re.compile(r'^ts=\S+ level=(info|warning|error) logger=\S+ msg=("([^"\\]|\\.)*"|\S+)( |$)')


def _record(msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("analyticsd.test", level, __file__, 1, msg, (), None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_one_line_with_quoted_message_and_fields() -> None:
    out = LogfmtFormatter().format(
        _record('spool "full"\nretry', fields={"events": 12, "stream": "analyticsd:events"})
    )
    assert "\n" not in out
    assert LINE.match(out)
    assert 'msg="spool \\"full\\"\\nretry"' in out
    assert out.endswith("events=12 stream=analyticsd:events")


def test_exceptions_stay_on_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("fatal", logging.ERROR)
        record.exc_info = sys.exc_info()
    out = LogfmtFormatter().format(record)
    assert "\n" not in out
    assert LINE.match(out)
    assert 'exc="Traceback' in out
    assert "ValueError: boom" in out
