"""Link/network/transport decoding, against frames crafted with scapy."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import CookedLinuxV2, Ether
from scapy.packet import Raw

from monitor.capture import frames as fr
from tests.capture.pcaps import craft


def test_ethernet_ipv4_udp_fields_and_padding_trimmed() -> None:
    raw = craft.udp(b"hi", 1234, 53)
    assert len(raw) < 60
    padded = raw + b"\xee" * (60 - len(raw))  # Ethernet minimum-size padding
    pkt = fr.decode(padded)
    assert pkt is not None
    assert (pkt.src_mac, pkt.dst_mac) == (craft.CLIENT_MAC, craft.GW_MAC)
    assert (pkt.src_ip, pkt.dst_ip, pkt.proto) == (craft.CLIENT_IP, craft.SERVER_IP, 17)
    assert (pkt.sport, pkt.dport, pkt.payload) == (1234, 53, b"hi")
    assert pkt.vlan is None


def test_vlan_tag() -> None:
    pkt = fr.decode(craft.vlan_dns_query("vlan.example", vlan=30))
    assert pkt is not None and pkt.vlan == 30 and pkt.dport == 53 and pkt.src_ip == craft.CLIENT_IP


def test_ipv4_options_skipped() -> None:
    pkt = fr.decode(craft.ipv4_options_dns_query("opts.example"))
    assert pkt is not None and pkt.dport == 53 and pkt.payload[:2] == b"\x00\x00"


def test_ipv6_extension_headers_skipped() -> None:
    pkt = fr.decode(craft.ipv6_ext_dns_query("v6.example"))
    assert pkt is not None
    assert (pkt.src_ip, pkt.proto, pkt.dport) == (craft.CLIENT6, 17, 53)


def test_ipv4_fragments_first_parsed_rest_skipped() -> None:
    big = IP(src=craft.CLIENT_IP, dst=craft.SERVER_IP) / UDP(sport=1, dport=2) / Raw(b"x" * 3000)
    parts = [bytes(craft.ether() / f) for f in fragment(big, fragsize=1000)]
    first = fr.decode(parts[0])
    assert first is not None and first.fragmented and first.dport == 2
    assert all(fr.decode(p) is None for p in parts[1:])


def test_ipv6_fragment_header() -> None:
    base = craft.ether() / IPv6(src=craft.CLIENT6, dst=craft.SERVER6)
    first = bytes(base / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=5, dport=53) / b"abc")
    later = bytes(base / IPv6ExtHdrFragment(offset=100, m=0, nh=17) / b"rest")
    p = fr.decode(first)
    assert p is not None and p.fragmented and p.dport == 53
    assert fr.decode(later) is None


def test_tcp_fields() -> None:
    frames_ = craft.tcp_stream(b"hello", [], isn=0xFFFFFFFF)
    syn = fr.decode(frames_[0])
    data = fr.decode(frames_[1])
    assert syn is not None and data is not None
    assert syn.tcp_flags & fr.TCP_SYN and syn.tcp_seq == 0xFFFFFFFF
    assert data.tcp_seq == 0 and data.payload == b"hello" and data.tcp_flags & fr.TCP_ACK


def test_other_ethertype_ignored() -> None:
    assert fr.decode(bytes(Ether(type=0x88CC) / Raw(b"lldp"))) is None


@pytest.mark.parametrize("cut", [0, 5, 13, 20, 33, 41])
def test_truncated_frames_raise_frame_error(cut: int) -> None:
    raw = craft.dns_query("example.com")
    with pytest.raises(fr.FrameError):
        fr.decode(raw[:cut])


def test_arp_sender_binding() -> None:
    pkt = fr.decode(craft.arp_reply())
    assert pkt is not None and pkt.ethertype == fr.ETH_P_ARP
    assert fr.parse_arp(pkt) == fr.Neighbour(craft.OTHER_MAC, craft.OTHER_IP)


def test_arp_probe_ignored() -> None:
    from scapy.layers.l2 import ARP

    raw = bytes(Ether(src=craft.OTHER_MAC) / ARP(op=1, hwsrc=craft.OTHER_MAC, psrc="0.0.0.0"))
    pkt = fr.decode(raw)
    assert pkt is not None and fr.parse_arp(pkt) is None


def test_ndp_solicitation_and_advertisement() -> None:
    ns = fr.decode(craft.ndp_ns())
    na = fr.decode(craft.ndp_na())
    assert ns is not None and na is not None
    assert fr.parse_ndp(ns) == fr.Neighbour(craft.CLIENT_MAC, craft.CLIENT6)
    assert fr.parse_ndp(na) == fr.Neighbour(craft.OTHER_MAC, "2001:db8:100::42")


def test_ndp_dad_solicitation_ignored() -> None:
    raw = craft.ndp_ns(src="::")
    pkt = fr.decode(raw)
    assert pkt is not None and fr.parse_ndp(pkt) is None


def test_raw_ip_and_linux_cooked_link_types() -> None:
    ip = IP(src=craft.CLIENT_IP, dst=craft.SERVER_IP) / UDP(sport=9, dport=53) / b"q"
    p = fr.decode(bytes(ip), fr.DLT_RAW)
    assert p is not None and p.src_ip == craft.CLIENT_IP and p.src_mac == ""
    sll2 = CookedLinuxV2(proto=0x0800, lladdrlen=6, src=b"\x02\x00\x5e\x10\x00\x23\x00\x00")
    p2 = fr.decode(bytes(sll2 / ip), fr.DLT_LINUX_SLL2)
    assert p2 is not None and p2.src_mac == craft.CLIENT_MAC and p2.payload == b"q"
