"""One HTTP/1.1 connection as a pure state machine: bytes in, events out.

Like h11's `Connection`, it does no IO and knows no clock: the listener
(`http/server.py`) feeds it what the socket received, acts on the events in
the order given, and sends the bytes it renders. Parsing is done by httptools
(the llhttp C parser); this module adds our limits and protocol rules.

Events, in the order the bytes produced them:
* `Request`: a complete request (head and body); answer it with `respond`.
* `Continue`: the request in progress carries `Expect: 100-continue` and its
  body will be read; send `CONTINUE_BYTES` once earlier requests are answered.
* `Refused`: the bytes cannot be served further; send `render(response,
  close=True)` and close. Nothing follows it. Requests completed before the
  bad bytes are still emitted ahead of it, so they are answered (and ingest
  stored) first.

Rules and invariants:
* Responses go out in request order; `respond` answers the oldest request
  not yet answered, and `closing` says the connection must close after it.
* A body over `max_body` is refused with 413 before it is read when the
  Content-Length says so (then no 100 Continue is sent), otherwise as soon as
  the body grows past it. A head over MAX_HEAD_BYTES is refused with 431.
* HTTP/1.1 requires exactly one `Host` field (RFC 9112 §3.2): none or two is
  400. HTTP/1.0 may omit it.
* A target is origin-form (`/path?query`) or absolute-form
  (`http://host/path?query`, RFC 9112 §3.2.2); the absolute form is reduced
  to its path and query, so every route sees the same `Request.path`. Other
  forms (`*`, authority-form) are 400.
* Repeated header fields are all kept (`RequestHeaders`); `get` combines them
  comma-joined in order, as RFC 9110 §5.3 allows. So an X-Forwarded-For sent
  on two lines by a trusted proxy chain reads as one list, hops in order.
* `Expect: 100-continue` yields `Continue` only for HTTP/1.1, only when the
  head passed every check above, and is withdrawn when the whole body came
  in the same bytes as the head. Other `Expect` values are ignored.
* Protocol upgrades are refused with 400.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple, NoReturn

import httptools

from analyticsd.http.ingest import Request, RequestHeaders
from analyticsd.http.responses import REASONS, HttpResponse, error_response

MAX_HEAD_BYTES = 16 * 1024
CONTINUE_BYTES = b"HTTP/1.1 100 Continue\r\n\r\n"


class Continue:
    """Send `CONTINUE_BYTES` now: the client waits for it before the body."""

    __slots__ = ()


class Refused(NamedTuple):
    """The connection cannot continue: send `response` and close."""

    response: HttpResponse


CONTINUE = Continue()
Event = Request | Continue | Refused


class _Stop(Exception):
    """Raised inside a parser callback to stop llhttp; `receive` reports `refusal`."""


class HttpConnection:
    """The server side of one HTTP/1.1 connection (requests in, responses out)."""

    def __init__(self, peer: str, max_body: int) -> None:
        self.peer = peer
        self.max_body = max_body
        self.in_message = False  # a request has begun and is not complete
        self.in_head = False  # a request has begun and its head is not complete
        self.closing = False  # the last response rendered closes the connection
        self.begun = 0  # requests whose first bytes have been received
        self.answered = 0  # responses rendered so far
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[Event] = []
        self._refusal: HttpResponse | None = None
        # (keep-alive, HEAD) of each request emitted and not yet answered.
        self._unanswered: deque[tuple[bool, bool]] = deque()
        self._url = b""
        self._headers = RequestHeaders()
        self._head_bytes = 0
        self._body = bytearray()

    def receive(self, data: bytes | bytearray) -> list[Event]:
        """Feed bytes from the socket; return the events they complete, in order."""
        if self._refusal is not None:
            return []  # already refused: the rest of the stream means nothing
        self._events = events = list[Event]()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(error_response(400, "protocol upgrades are not supported"))
        except httptools.HttpParserError as e:
            if self._refusal is None:  # llhttp's own complaint, not one of our limits
                self._refusal = error_response(400, f"malformed HTTP request: {e}")
            events.append(Refused(self._refusal))
        return events

    def respond(self, response: HttpResponse, *, close: bool = False) -> bytes:
        """The bytes answering the oldest unanswered request; `close` forces a close."""
        keep_alive, head = self._unanswered.popleft()
        self.answered += 1
        self.closing = close or not keep_alive
        return render(response, self.closing, head)

    def _refuse(self, response: HttpResponse) -> None:
        self._refusal = response
        self._events.append(Refused(response))

    def _stop(self, status: int, message: str) -> NoReturn:
        self._refusal = error_response(status, message)
        raise _Stop  # httptools turns it into HttpParserError; `receive` reports it

    # -- httptools callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = self.in_head = True
        self.begun += 1
        self._url, self._headers, self._head_bytes = b"", RequestHeaders(), 0
        self._body = bytearray()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.lower(), value)
        self._count_head(len(name) + len(value))

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            self._stop(431, "request head is too large")

    def on_headers_complete(self) -> None:
        self.in_head = False
        headers = self._headers
        if self._url[:1] != b"/":
            target = _origin_form(self._url)
            if target is None:
                self._stop(400, "the request target must be a path or an absolute http URL")
            self._url = target
        host = headers.get(b"host")
        if host is None:
            if self._parser.get_http_version() != "1.0":
                self._stop(400, "an HTTP/1.1 request needs a Host header")
        elif b"," in host:  # two Host lines combined (a comma is in no valid host)
            self._stop(400, "a request may carry only one Host header")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self._stop(413, f"body is larger than {self.max_body} bytes")
        expect = headers.get(b"expect")
        # Reached only if the body will be read: a refusal above has stopped
        # the parser, and that final status answers the client instead.
        if (
            expect is not None
            and expect.lower() == b"100-continue"
            and self._parser.get_http_version() == "1.1"  # a 1.0 client knows no 100
        ):
            self._events.append(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body += body
        if len(self._body) > self.max_body:
            self._stop(413, f"body is larger than {self.max_body} bytes")

    def on_message_complete(self) -> None:
        self.in_message = False
        events = self._events
        if events and events[-1] is CONTINUE:
            events.pop()  # the body came with the head: nobody waits for the 100
        if b"upgrade" in self._headers and self._parser.should_upgrade():
            return  # llhttp stops after this message; `receive` refuses it
        method = self._parser.get_method().decode("ascii", "replace")
        events.append(
            Request(
                method=method,
                path=self._url.decode("latin-1"),
                headers=self._headers,
                body=bytes(self._body),
                peer=self.peer,
            )
        )
        self._unanswered.append((self._parser.should_keep_alive(), method == "HEAD"))


def _origin_form(target: bytes) -> bytes | None:
    """`/path?query` of an absolute-form target; None for any other form."""
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return None
    cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
    if cut == 0:
        return None  # no authority
    path = rest[cut:]
    return path if path[:1] == b"/" else b"/" + path


def render(response: HttpResponse, close: bool, head_only: bool = False) -> bytes:
    """The bytes of a complete HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}".encode()]
    lines.extend(k + b": " + v for k, v in response.headers)
    lines.append(b"content-length: " + str(len(response.body)).encode())
    if close:
        lines.append(b"connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return head if head_only else head + response.body
