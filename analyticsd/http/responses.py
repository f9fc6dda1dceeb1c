"""The response value the HTTP layer passes around, and JSON error bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

Headers = list[tuple[bytes, bytes]]


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)


def json_response(status: int, payload: Any, headers: Headers | None = None) -> HttpResponse:
    hdrs: Headers = [(b"content-type", b"application/json")]
    if headers:
        hdrs.extend(headers)
    return HttpResponse(status, msgspec.json.encode(payload), hdrs)


def error_response(
    status: int, messages: list[str] | str, headers: Headers | None = None
) -> HttpResponse:
    """`{"statusCode", "message", "error"}`: the error shape of SPEC §5."""
    msgs = [messages] if isinstance(messages, str) else messages
    payload = {"statusCode": status, "message": msgs, "error": REASONS.get(status, "Error")}
    return json_response(status, payload, headers)
