"""The sans-IO connection: bytes in, events out; responses rendered to bytes."""

from __future__ import annotations

import pytest

from analyticsd.http.connection import (
    CONTINUE,
    CONTINUE_BYTES,
    MAX_HEAD_BYTES,
    Event,
    HttpConnection,
    Refused,
    render,
)
from analyticsd.http.ingest import Request, RequestHeaders
from analyticsd.http.responses import HttpResponse

BODY = b'{"siteId":"s","eventType":"pageview","path":"/"}'


def post(target: bytes = b"/api/event", body: bytes = BODY, extra: bytes = b"") -> bytes:
    return (
        b"POST "
        + target
        + b" HTTP/1.1\r\nHost: x\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def conn(max_body: int = 1000) -> HttpConnection:
    return HttpConnection("192.0.2.1", max_body)


def only_request(events: list[Event]) -> Request:
    assert len(events) == 1
    assert isinstance(events[0], Request)
    return events[0]


def refusal(events: list[Event]) -> int:
    assert isinstance(events[-1], Refused)
    return events[-1].response.status


def test_one_request_in_one_piece() -> None:
    req = only_request(conn().receive(post()))
    assert (req.method, req.path, req.body, req.peer) == ("POST", "/api/event", BODY, "192.0.2.1")
    assert req.headers.get(b"host") == b"x"


def test_a_request_split_byte_by_byte() -> None:
    c = conn()
    events: list[Event] = []
    data = post()
    for i in range(len(data)):
        events += c.receive(data[i : i + 1])
        assert c.in_message == (i < len(data) - 1)
    assert only_request(events).body == BODY


def test_keep_alive_and_close() -> None:
    c = conn()
    only_request(c.receive(post()))
    out = c.respond(HttpResponse(202, b"{}"))
    assert out == b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}"
    assert not c.closing
    only_request(c.receive(post(extra=b"Connection: close\r\n")))
    assert c.respond(HttpResponse(202)).endswith(b"connection: close\r\n\r\n")
    assert c.closing


def test_http_1_0_closes_unless_keep_alive_and_needs_no_host() -> None:
    c = conn()
    only_request(c.receive(b"GET /api/health HTTP/1.0\r\n\r\n"))
    c.respond(HttpResponse(200))
    assert c.closing
    c = conn()
    only_request(c.receive(b"GET /api/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
    c.respond(HttpResponse(200))
    assert not c.closing


def test_draining_forces_close() -> None:
    c = conn()
    only_request(c.receive(post()))
    assert b"connection: close" in c.respond(HttpResponse(202), close=True)
    assert c.closing


def test_head_gets_no_body() -> None:
    c = conn()
    only_request(c.receive(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert c.respond(HttpResponse(200, b"hello")) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


def test_pipelined_requests_come_out_in_order_and_are_answered_in_order() -> None:
    c = conn()
    events = c.receive(post(b"/a") + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n" + post(b"/c"))
    assert [e.path for e in events if isinstance(e, Request)] == ["/a", "/b", "/c"]
    c.respond(HttpResponse(202))
    c.respond(HttpResponse(200))
    c.respond(HttpResponse(202))
    assert c.answered == 3
    with pytest.raises(IndexError):
        c.respond(HttpResponse(200))  # more answers than requests is a bug


def test_complete_requests_before_garbage_come_out_before_the_refusal() -> None:
    c = conn()
    events = c.receive(post(b"/a") + post(b"/b") + b"\x16\x03\x01garbage\r\n\r\n")
    assert [type(e) for e in events] == [Request, Request, Refused]
    assert refusal(events) == 400
    assert c.receive(post()) == []  # a refused stream stays refused


def test_garbage_alone_is_400() -> None:
    assert refusal(conn().receive(b"\x00\x01\x02 nonsense\r\n\r\n")) == 400


def test_declared_oversize_body_is_413_before_the_body() -> None:
    events = conn(max_body=10).receive(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
    assert [type(e) for e in events] == [Refused]
    assert refusal(events) == 413


def test_chunked_body_over_the_limit_is_413() -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    c = conn(max_body=10)
    assert c.receive(data + b"8\r\n12345678\r\n") == []
    assert refusal(c.receive(b"8\r\n12345678\r\n")) == 413


def test_chunked_body_within_the_limit() -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    req = only_request(conn().receive(data + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
    assert req.body == b"abcde"


def test_head_over_the_limit_is_431() -> None:
    big = b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n"
    assert refusal(conn().receive(b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")) == 431


def test_upgrade_is_refused() -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    events = conn().receive(data)
    assert [type(e) for e in events] == [Refused]
    assert refusal(events) == 400


# -- Expect: 100-continue ------------------------------------------------------

EXPECT_HEAD = (
    b"POST /api/event HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
)


def test_expect_continue_gets_continue_once_the_head_is_in() -> None:
    c = conn()
    assert c.receive(EXPECT_HEAD) == [CONTINUE]
    assert CONTINUE_BYTES == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert only_request(c.receive(BODY)).body == BODY


def test_expect_continue_value_is_case_insensitive() -> None:
    assert conn().receive(EXPECT_HEAD.replace(b"100-continue", b"100-Continue")) == [CONTINUE]


def test_no_continue_when_the_body_came_with_the_head() -> None:
    only_request(conn().receive(EXPECT_HEAD + BODY))


def test_no_continue_when_refused_first() -> None:
    events = conn(max_body=10).receive(EXPECT_HEAD)
    assert [type(e) for e in events] == [Refused]
    assert refusal(events) == 413


def test_no_continue_for_http_1_0() -> None:
    assert conn().receive(EXPECT_HEAD.replace(b"HTTP/1.1", b"HTTP/1.0")) == []


def test_continue_comes_after_the_pipelined_request_before_it() -> None:
    # A 100 sent ahead of the earlier request's answer would be read as that
    # request's interim response: the order of events is the order to send.
    events = conn().receive(post(b"/a") + EXPECT_HEAD)
    assert [type(e) for e in events] == [Request, type(CONTINUE)]


# -- Host ----------------------------------------------------------------------


def test_http_1_1_without_host_is_400() -> None:
    assert refusal(conn().receive(b"GET / HTTP/1.1\r\n\r\n")) == 400


def test_two_host_lines_are_400() -> None:
    assert refusal(conn().receive(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")) == 400


# -- request targets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"http://example.com/api/event", "/api/event"),
        (b"HTTP://example.com:8787/api/batch?x=1", "/api/batch?x=1"),
        (b"https://example.com", "/"),
        (b"http://example.com?a=b", "/?a=b"),
        (b"/api/stats?siteId=s", "/api/stats?siteId=s"),
    ],
)
def test_absolute_form_is_reduced_to_its_path(target: bytes, path: str) -> None:
    assert only_request(conn().receive(post(target))).path == path


@pytest.mark.parametrize("target", [b"*", b"example.com:443", b"ftp://example.com/x", b"http:///x"])
def test_other_target_forms_are_400(target: bytes) -> None:
    assert refusal(conn().receive(post(target))) == 400


# -- repeated headers ----------------------------------------------------------


def test_repeated_headers_are_all_kept() -> None:
    extra = b"X-Forwarded-For: 203.0.113.7\r\nAccept: a\r\nX-Forwarded-For: 10.0.0.1\r\n"
    headers = only_request(conn().receive(post(extra=extra))).headers
    assert headers.get_all(b"x-forwarded-for") == [b"203.0.113.7", b"10.0.0.1"]
    # Combined as RFC 9110 §5.3 allows: in order, comma-joined.
    assert headers.get(b"x-forwarded-for") == b"203.0.113.7, 10.0.0.1"
    names = [n for n, _ in headers.lines()]
    assert names == [b"host", b"x-forwarded-for", b"accept", b"x-forwarded-for", b"content-length"]


def test_header_names_are_lowercased() -> None:
    headers = only_request(conn().receive(post(extra=b"USER-Agent: ua\r\n"))).headers
    assert headers.get(b"user-agent") == b"ua"
    assert b"user-agent" in headers
    assert b"origin" not in headers
    assert headers.get(b"origin", b"none") == b"none"


def test_request_headers_built_from_lines() -> None:
    h = RequestHeaders([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert h.get(b"a") == b"1, 3"
    assert h.get_all(b"b") == [b"2"]
    assert h == RequestHeaders([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert h != RequestHeaders([(b"a", b"1, 3"), (b"b", b"2")])


# -- rendering -----------------------------------------------------------------


def test_render() -> None:
    response = HttpResponse(404, b"no", [(b"content-type", b"text/plain")])
    assert render(response, close=False) == (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nno"
    )
    assert render(response, close=True, head_only=True) == (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n"
        b"connection: close\r\n\r\n"
    )
