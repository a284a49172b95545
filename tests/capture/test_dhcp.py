"""DHCPv4 client messages and server ACKs, crafted with scapy's BOOTP/DHCP layers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.capture import dhcp
from monitor.capture.frames import decode
from tests.capture.pcaps import craft


def _payload(frame: bytes) -> bytes:
    pkt = decode(frame)
    assert pkt is not None
    return pkt.payload


def test_request_with_hostname_vendor_and_requested_address() -> None:
    msg = dhcp.parse_dhcp(_payload(craft.dhcp_request("Cllr-Smith-iPad")))
    assert msg.is_client and msg.msg_type == dhcp.REQUEST
    assert msg.chaddr == craft.CLIENT_MAC
    assert msg.requested == craft.CLIENT_IP and msg.client_ip == craft.CLIENT_IP
    assert msg.hostname == "Cllr-Smith-iPad"
    assert msg.vendor_class == "android-dhcp-14"


def test_discover_without_hostname() -> None:
    msg = dhcp.parse_dhcp(_payload(craft.dhcp_request(None, msg_type="discover")))
    assert msg.msg_type == dhcp.DISCOVER and msg.hostname is None


def test_ack_binds_yiaddr_to_chaddr() -> None:
    msg = dhcp.parse_dhcp(_payload(craft.dhcp_ack(craft.OTHER_MAC, "198.51.100.77")))
    assert not msg.is_client and msg.msg_type == dhcp.ACK
    assert (msg.yiaddr, msg.chaddr) == ("198.51.100.77", craft.OTHER_MAC)


@pytest.mark.parametrize("cut", [0, 100, 239, 243])
def test_truncated(cut: int) -> None:
    raw = _payload(craft.dhcp_request())
    if cut < 240:
        with pytest.raises(dhcp.DhcpError):
            dhcp.parse_dhcp(raw[:cut])
    else:
        with pytest.raises(dhcp.DhcpError):
            dhcp.parse_dhcp(raw[:cut] + b"\x0c\x20ab")  # option claims 32 bytes, has 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_options_never_raise_anything_else(tail: bytes) -> None:
    base = _payload(craft.dhcp_request())[:240]
    try:
        dhcp.parse_dhcp(base + tail)
    except dhcp.DhcpError:
        pass
