"""Link, network and transport headers from raw bytes, by hand.

Why not scapy: its dissectors build an object tree per layer and manage a few hundred packets
a second; a chamber full of phones waking up at once sends thousands. Here one call decodes
Ethernet (with one 802.1Q/802.1ad tag), IPv4 (options, fragments) or IPv6 (extension headers),
and UDP/TCP into one slotted :class:`Packet`. Payloads are trimmed to the IP/UDP lengths so
Ethernet padding never reaches a parser.

Malformed input raises :class:`FrameError` (with a short ``reason`` the pipeline counts);
input that is well-formed but of no interest (other ethertypes, non-first fragments) returns
``None``.
"""

from __future__ import annotations

import socket
import struct

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8

IPPROTO_ICMPV6 = 58
IPPROTO_TCP = 6
IPPROTO_UDP = 17

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

# pcap link types we understand (replay of captures taken on "any" or tun devices).
DLT_EN10MB = 1
DLT_RAW = 101
DLT_RAW_ALT = 12
DLT_IPV4 = 228
DLT_IPV6 = 229
DLT_LINUX_SLL = 113
DLT_LINUX_SLL2 = 276

_IPV6_EXT_SIMPLE = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_MAX_IPV6_EXT = 8

_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_ipv4_hdr = struct.Struct("!BBHHHBBH").unpack_from  # ver/ihl, tos, len, id, frag, ttl, proto, csum
_tcp_hdr = struct.Struct("!HHIIBB").unpack_from  # sport, dport, seq, ack, off, flags
_udp_hdr = struct.Struct("!HHH").unpack_from


class FrameError(ValueError):
    """A frame that claims a structure it does not have; ``reason`` is a stable counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Packet:
    """One decoded frame. Slotted and mutable only while being built: parsers read it.

    ``proto`` is the IP protocol number (6 TCP, 17 UDP, 58 ICMPv6, …) or 0 for ARP, whose
    body is then in ``payload``. MACs are lower-case colon text ("" for link types without
    Ethernet addresses); IPs are canonical text. ``sport``/``dport``/``tcp_*`` are 0 when
    not applicable.
    """

    __slots__ = (
        "src_mac",
        "dst_mac",
        "vlan",
        "ethertype",
        "src_ip",
        "dst_ip",
        "proto",
        "sport",
        "dport",
        "tcp_seq",
        "tcp_flags",
        "payload",
        "fragmented",
    )

    def __init__(self) -> None:
        self.src_mac: str = ""
        self.dst_mac: str = ""
        self.vlan: int | None = None
        self.ethertype: int = 0
        self.src_ip: str | None = None
        self.dst_ip: str | None = None
        self.proto: int = 0
        self.sport: int = 0
        self.dport: int = 0
        self.tcp_seq: int = 0
        self.tcp_flags: int = 0
        self.payload: bytes = b""
        self.fragmented: bool = False

    def __repr__(self) -> str:
        return (
            f"Packet({self.src_mac}>{self.dst_mac} {self.src_ip}:{self.sport}>"
            f"{self.dst_ip}:{self.dport} proto={self.proto} len={len(self.payload)})"
        )


class Neighbour:
    """A MAC↔IP binding learned from ARP or IPv6 neighbour discovery."""

    __slots__ = ("mac", "ip")

    def __init__(self, mac: str, ip: str) -> None:
        self.mac = mac
        self.ip = ip

    def __repr__(self) -> str:
        return f"Neighbour({self.mac}, {self.ip})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Neighbour) and (self.mac, self.ip) == (other.mac, other.ip)

    def __hash__(self) -> int:
        return hash((self.mac, self.ip))


def decode(buf: bytes, linktype: int = DLT_EN10MB) -> Packet | None:
    """Decode one captured frame; ``None`` if it carries nothing we parse."""
    if linktype == DLT_EN10MB:
        return decode_ethernet(buf)
    pkt = Packet()
    if linktype in (DLT_RAW, DLT_RAW_ALT, DLT_IPV4, DLT_IPV6):
        if not buf:
            raise FrameError("short_ip")
        version = buf[0] >> 4
        if version == 4:
            pkt.ethertype = ETH_P_IP
            return _ipv4(buf, 0, pkt)
        if version == 6:
            pkt.ethertype = ETH_P_IPV6
            return _ipv6(buf, 0, pkt)
        raise FrameError("bad_ip_version")
    if linktype == DLT_LINUX_SLL:
        # packet type(2) arphrd(2) addr len(2) addr(8) protocol(2)
        if len(buf) < 16:
            raise FrameError("short_sll")
        ethertype = _u16(buf, 14)[0]
        alen = min(_u16(buf, 4)[0], 8)
        if alen == 6:
            pkt.src_mac = buf[6:12].hex(":")
        return _network(buf, 16, ethertype, pkt)
    if linktype == DLT_LINUX_SLL2:
        # protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) alen(1) addr(8)
        if len(buf) < 20:
            raise FrameError("short_sll2")
        ethertype = _u16(buf, 0)[0]
        if buf[11] == 6:
            pkt.src_mac = buf[12:18].hex(":")
        return _network(buf, 20, ethertype, pkt)
    raise FrameError("unsupported_linktype")


def decode_ethernet(buf: bytes) -> Packet | None:
    """Ethernet II with at most one VLAN tag (the chamber SSID's VLAN on a trunk port)."""
    if len(buf) < 14:
        raise FrameError("short_ethernet")
    pkt = Packet()
    pkt.dst_mac = buf[0:6].hex(":")
    pkt.src_mac = buf[6:12].hex(":")
    ethertype = (buf[12] << 8) | buf[13]
    off = 14
    if ethertype == ETH_P_8021Q or ethertype == ETH_P_8021AD:
        if len(buf) < 18:
            raise FrameError("short_vlan")
        pkt.vlan = ((buf[14] << 8) | buf[15]) & 0x0FFF
        ethertype = (buf[16] << 8) | buf[17]
        off = 18
    return _network(buf, off, ethertype, pkt)


def _network(buf: bytes, off: int, ethertype: int, pkt: Packet) -> Packet | None:
    pkt.ethertype = ethertype
    if ethertype == ETH_P_IP:
        return _ipv4(buf, off, pkt)
    if ethertype == ETH_P_IPV6:
        return _ipv6(buf, off, pkt)
    if ethertype == ETH_P_ARP:
        pkt.payload = bytes(buf[off:])
        return pkt
    return None


def _ipv4(buf: bytes, off: int, pkt: Packet) -> Packet | None:
    if len(buf) < off + 20:
        raise FrameError("short_ipv4")
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum = _ipv4_hdr(buf, off)
    if vihl >> 4 != 4:
        raise FrameError("bad_ip_version")
    ihl = (vihl & 0x0F) * 4
    if ihl < 20:
        raise FrameError("bad_ipv4_ihl")
    if total < ihl:
        raise FrameError("bad_ipv4_length")
    end = off + total
    if end > len(buf):
        # Truncated by snaplen or a lying header: parse what we have, parsers cope.
        end = len(buf)
    if off + ihl > end:
        raise FrameError("short_ipv4")
    if frag & 0x1FFF:
        return None  # non-first fragment: no transport header to read
    pkt.fragmented = bool(frag & 0x2000)
    pkt.src_ip = _ntop(_AF_INET, buf[off + 12 : off + 16])
    pkt.dst_ip = _ntop(_AF_INET, buf[off + 16 : off + 20])
    pkt.proto = proto
    return _transport(buf, off + ihl, end, proto, pkt)


def _ipv6(buf: bytes, off: int, pkt: Packet) -> Packet | None:
    if len(buf) < off + 40:
        raise FrameError("short_ipv6")
    if buf[off] >> 4 != 6:
        raise FrameError("bad_ip_version")
    plen = _u16(buf, off + 4)[0]
    nxt = buf[off + 6]
    pkt.src_ip = _ntop(_AF_INET6, buf[off + 8 : off + 24])
    pkt.dst_ip = _ntop(_AF_INET6, buf[off + 24 : off + 40])
    pos = off + 40
    end = min(pos + plen, len(buf)) if plen else len(buf)  # plen 0: jumbogram
    for _ in range(_MAX_IPV6_EXT):
        if nxt in _IPV6_EXT_SIMPLE:
            if pos + 8 > end:
                raise FrameError("short_ipv6_ext")
            nxt, hlen = buf[pos], (buf[pos + 1] + 1) * 8
            pos += hlen
        elif nxt == _IPV6_FRAGMENT:
            if pos + 8 > end:
                raise FrameError("short_ipv6_ext")
            fo = _u16(buf, pos + 2)[0]
            if fo & 0xFFF8:
                return None  # non-first fragment
            pkt.fragmented = bool(fo & 1)
            nxt = buf[pos]
            pos += 8
        elif nxt == _IPV6_AH:
            if pos + 8 > end:
                raise FrameError("short_ipv6_ext")
            nxt, hlen = buf[pos], (buf[pos + 1] + 2) * 4
            pos += hlen
        else:
            break
    else:
        raise FrameError("too_many_ipv6_ext")
    if pos > end:
        raise FrameError("short_ipv6_ext")
    pkt.proto = nxt
    return _transport(buf, pos, end, nxt, pkt)


def _transport(buf: bytes, pos: int, end: int, proto: int, pkt: Packet) -> Packet:
    if proto == IPPROTO_UDP:
        if pos + 8 > end:
            raise FrameError("short_udp")
        pkt.sport, pkt.dport, ulen = _udp_hdr(buf, pos)
        if ulen >= 8 and pos + ulen < end:
            end = pos + ulen  # trim padding; a longer claim is a truncated datagram
        pkt.payload = bytes(buf[pos + 8 : end])
    elif proto == IPPROTO_TCP:
        if pos + 20 > end:
            raise FrameError("short_tcp")
        pkt.sport, pkt.dport, pkt.tcp_seq, _ack, doff, pkt.tcp_flags = _tcp_hdr(buf, pos)
        hlen = (doff >> 4) * 4
        if hlen < 20 or pos + hlen > end:
            raise FrameError("bad_tcp_offset")
        pkt.payload = bytes(buf[pos + hlen : end])
    else:
        pkt.payload = bytes(buf[pos:end])
    return pkt


# ---------------------------------------------------------------------------- neighbours


def _unicast_mac(raw: bytes) -> str | None:
    """Canonical text of a usable device MAC, or None for zero/multicast/broadcast."""
    if len(raw) != 6 or raw[0] & 1 or raw == b"\x00" * 6:
        return None
    return raw.hex(":")


def parse_arp(pkt: Packet) -> Neighbour | None:
    """Sender MAC↔IPv4 from an Ethernet/IPv4 ARP request or reply.

    Only the sender pair is trusted: the target of a request is what someone is looking for,
    not what they are. Gratuitous ARP (sender == target) is still a sender binding.
    """
    if pkt.ethertype != ETH_P_ARP:
        return None
    b = pkt.payload
    if len(b) < 28:
        raise FrameError("short_arp")
    htype, ptype, hlen, plen = struct.unpack_from("!HHBB", b, 0)
    if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    mac = _unicast_mac(b[8:14])
    if mac is None:
        return None
    ip_raw = b[14:18]
    if ip_raw == b"\x00\x00\x00\x00":
        return None  # ARP probe (RFC 5227): address not yet owned
    return Neighbour(mac, _ntop(_AF_INET, ip_raw))


def parse_ndp(pkt: Packet) -> Neighbour | None:
    """MAC↔IPv6 from a neighbour solicitation (source link-layer option, sender's address)
    or advertisement (target link-layer option, target address).

    Duplicate-address-detection solicitations come from ``::`` and prove nothing.
    """
    b = pkt.payload
    if pkt.proto != IPPROTO_ICMPV6 or len(b) < 24:
        return None
    icmp_type = b[0]
    if icmp_type == 135:  # NS
        want_opt = 1
        ip = pkt.src_ip
        if ip is None or ip == "::":
            return None
    elif icmp_type == 136:  # NA
        want_opt = 2
        ip = _ntop(_AF_INET6, b[8:24])
    else:
        return None
    pos = 24
    n = len(b)
    while pos + 2 <= n:
        opt_type, opt_len = b[pos], b[pos + 1] * 8
        if opt_len == 0:
            raise FrameError("bad_ndp_option")
        if pos + opt_len > n:
            raise FrameError("short_ndp_option")
        if opt_type == want_opt and opt_len >= 8:
            mac = _unicast_mac(b[pos + 2 : pos + 8])
            return Neighbour(mac, ip) if mac else None
        pos += opt_len
    return None
