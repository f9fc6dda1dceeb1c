from __future__ import annotations

import pytest

from analyticsd.core.errors import ForwardedForError
from analyticsd.core.netaddr import client_ip, parse_networks

TRUSTED = parse_networks(["127.0.0.1/32", "10.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "203.0.113.5, 10.1.1.1", "203.0.113.5"),  # skip our own proxy hops
        ("127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all hops ours: the first one
        ("192.0.2.1", "203.0.113.5", "192.0.2.1"),  # untrusted peer: header ignored
        ("192.0.2.1", "garbage", "192.0.2.1"),
        ("::1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, header: str | None, expected: str) -> None:
    assert client_ip(peer, header, TRUSTED) == expected


@pytest.mark.parametrize("header", ["garbage", "1.2.3.4, nope", ",".join(["1.1.1.1"] * 100)])
def test_malformed_header_from_trusted_proxy(header: str) -> None:
    with pytest.raises(ForwardedForError, match="X-Forwarded-For"):
        client_ip("127.0.0.1", header, TRUSTED)
