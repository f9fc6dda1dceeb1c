"""Which addresses have no location (the check lookups in the bundled database make)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from analyticsd.core.geo import NOT_LOCATABLE, not_locatable

NETS = [ipaddress.ip_network(n) for n in NOT_LOCATABLE]


def in_list(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and int(addr) >> 32 in (0, 0xFFFF):
        addr = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return any(addr in n for n in NETS)


def test_reserved_blocks_from_edge_to_edge() -> None:
    for net in NETS:
        cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        assert not_locatable(str(net.network_address)), net
        assert not_locatable(str(net.broadcast_address)), net
        # Just outside the block: locatable, unless a neighbouring block is reserved too.
        for n in (int(net.network_address) - 1, int(net.broadcast_address) + 1):
            if 0 <= n < 1 << net.max_prefixlen:
                outside = str(cls(n))
                assert not_locatable(outside) == in_list(outside), outside


def test_public_addresses_are_locatable() -> None:
    for ip in ("8.8.8.8", "1.1.1.1", "77.88.8.8", "223.255.255.255", "2001:4860:4860::8888",
               "2a00:1450:4001::1", "::ffff:8.8.8.8", "2002:c000:0204::1"):  # fmt: skip
        assert not not_locatable(ip), ip


def test_mapped_and_compatible_addresses_count_as_ipv4() -> None:
    assert not_locatable("::ffff:192.168.0.1")
    assert not_locatable("::ffff:10.1.2.3")
    assert not_locatable("::192.168.0.1")
    assert not_locatable("::1")
    assert not_locatable("::")
    assert not not_locatable("::ffff:77.88.8.8")


def test_what_is_not_an_address_is_left_to_the_lookup() -> None:
    for junk in ("", "x", "1.2.3", "1.2.3.4.5", "::g", "8.8.8.8 "):
        assert not not_locatable(junk)


@given(st.ip_addresses())
def test_the_ranges_are_the_list(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert not_locatable(str(addr)) == in_list(str(addr))


@given(st.sampled_from(NETS), st.data())
def test_every_address_of_a_block(net: ipaddress._BaseNetwork, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, net.num_addresses - 1))
    assert not_locatable(str(net.network_address + offset))
