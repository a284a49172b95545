"""Frames for every channel, crafted with scapy (documentation address ranges only)."""

from __future__ import annotations

import os

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw
from scapy.utils import RawPcapWriter

from tests.capture.pcaps import quicbuild, tlsbuild

CLIENT_MAC = "02:00:5e:10:00:23"
OTHER_MAC = "02:00:5e:10:00:42"
GW_MAC = "02:00:5e:10:00:01"
CLIENT_IP = "198.51.100.23"
OTHER_IP = "198.51.100.42"
GW_IP = "198.51.100.1"
SERVER_IP = "203.0.113.10"
RESOLVER_IP = "203.0.113.53"
CLIENT6 = "2001:db8:100::23"
SERVER6 = "2001:db8:203::10"
CHAMBER = ("198.51.100.0/24", "2001:db8:100::/64")


def ether(src: str = CLIENT_MAC, dst: str = GW_MAC) -> Ether:
    return Ether(src=src, dst=dst)


def frame(pkt: Packet) -> bytes:
    return bytes(pkt)


def ip_layer(src: str, dst: str) -> Packet:
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


# --------------------------------------------------------------------------------- DNS


def dns_query(
    name: str,
    qtype: str = "A",
    *,
    src: str = CLIENT_IP,
    dst: str = RESOLVER_IP,
    mac: str = CLIENT_MAC,
    sport: int = 40000,
    qid: int = 1,
) -> bytes:
    return frame(
        ether(mac)
        / ip_layer(src, dst)
        / UDP(sport=sport, dport=53)
        / DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    )


def dns_response(
    name: str, address: str = "203.0.113.80", *, dst: str = CLIENT_IP, mac: str = CLIENT_MAC
) -> bytes:
    """A response with a CNAME chain; scapy compresses the answer names into pointers."""
    cname = "edge." + name
    msg = DNS(
        id=1,
        qr=1,
        rd=1,
        ra=1,
        qd=DNSQR(qname=name),
        an=DNSRR(rrname=name, type="CNAME", rdata=cname) / DNSRR(rrname=cname, rdata=address),
    )
    return frame(ether(GW_MAC, mac) / ip_layer(RESOLVER_IP, dst) / UDP(sport=53, dport=40000) / msg)


def dns_wire_with_pointers(name: str) -> bytes:
    """A query whose question name ends in a compression pointer to a suffix kept in an
    additional record (legal on the wire, if unusual), built byte by byte."""
    first, _, rest = name.partition(".")
    labels = b"".join(bytes([len(x)]) + x.encode() for x in rest.split(".")) + b"\x00"
    header = bytes.fromhex("1234 0100 0001 0000 0000 0001")
    qname_len = 1 + len(first) + 2
    suffix_off = 12 + qname_len + 4
    pointer = bytes([0xC0 | suffix_off >> 8, suffix_off & 0xFF])
    question = bytes([len(first)]) + first.encode() + pointer
    question += b"\x00\x01\x00\x01"
    additional = labels + b"\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00"  # TXT, empty rdata
    return header + question + additional


def udp(
    payload: bytes,
    sport: int,
    dport: int,
    *,
    src: str = CLIENT_IP,
    dst: str = SERVER_IP,
    mac: str = CLIENT_MAC,
    dst_mac: str = GW_MAC,
) -> bytes:
    l4 = UDP(sport=sport, dport=dport) / Raw(payload)
    return frame(ether(mac, dst_mac) / ip_layer(src, dst) / l4)


# --------------------------------------------------------------------------------- TCP


def tcp_stream(
    data: bytes,
    cuts: list[int],
    *,
    src: str = CLIENT_IP,
    dst: str = SERVER_IP,
    sport: int = 50000,
    dport: int = 443,
    isn: int = 1000,
    mac: str = CLIENT_MAC,
    order: list[int] | None = None,
    syn: bool = True,
) -> list[bytes]:
    """SYN, then ``data`` cut at ``cuts`` into segments (sent in ``order`` if given)."""
    base = ether(mac) / ip_layer(src, dst)
    out = []
    if syn:
        out.append(frame(base / TCP(sport=sport, dport=dport, flags="S", seq=isn)))
    bounds = [0, *cuts, len(data)]
    segs = [
        frame(
            base
            / TCP(sport=sport, dport=dport, flags="PA", seq=(isn + 1 + a) & 0xFFFFFFFF, ack=1)
            / Raw(data[a:b])
        )
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    for i in order if order is not None else range(len(segs)):
        out.append(segs[i])
    return out


def tls_hello_stream(sni: str, cuts: list[int] | None = None, **kw: object) -> list[bytes]:
    hello = tlsbuild.records(tlsbuild.client_hello(sni, pq_key_share=True))
    return tcp_stream(hello, cuts if cuts is not None else [len(hello) // 2], **kw)  # type: ignore[arg-type]


def http_request(host: str, *, src: str = CLIENT_IP, sport: int = 50080) -> list[bytes]:
    req = (
        b"GET /generate_204 HTTP/1.1\r\nUser-Agent: test\r\nHost: "
        + host.encode()
        + b"\r\nAccept: */*\r\n\r\n"
    )
    return tcp_stream(req, [], src=src, sport=sport, dport=80)


# -------------------------------------------------------------------------------- QUIC


def quic_initials(
    sni: str,
    *,
    version: int = quicbuild.QUIC_V1,
    dcid: bytes | None = None,
    split: int = 2,
    pq: bool = True,
    shuffle: bool = False,
) -> list[bytes]:
    """UDP payloads of a client Initial flight whose ClientHello is CRYPTO-split across
    ``split`` packets (each padded to 1200 bytes), optionally with PING/PADDING sprinkled
    and the CRYPTO frames in reverse order as Chrome's "chaos protection" does."""
    dcid = dcid if dcid is not None else os.urandom(8)
    hello = tlsbuild.client_hello(sni, pq_key_share=pq, seed=len(sni))
    step = -(-len(hello) // split)
    out = []
    for i in range(split):
        chunk = hello[i * step : (i + 1) * step]
        frames = quicbuild.crypto_frame(i * step, chunk)
        if shuffle:
            half = len(chunk) // 2
            frames = (
                b"\x01"
                + quicbuild.crypto_frame(i * step + half, chunk[half:])
                + b"\x00\x00\x00\x01"
                + quicbuild.crypto_frame(i * step, chunk[:half])
            )
        out.append(quicbuild.protect_initial(frames, dcid, version=version, pn=i))
    return out


# ------------------------------------------------------------------- DHCP, ARP, NDP


def dhcp_request(
    hostname: str | bytes | None = "Cllr-Smith-iPad",
    *,
    mac: str = CLIENT_MAC,
    requested: str = CLIENT_IP,
    vendor: str = "android-dhcp-14",
    msg_type: str = "request",
) -> bytes:
    opts: list[object] = [("message-type", msg_type), ("requested_addr", requested)]
    if hostname is not None:
        opts.append(("hostname", hostname))
    opts += [("vendor_class_id", vendor), "end"]
    chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
    return frame(
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, chaddr=chaddr, xid=0x1234)
        / DHCP(options=opts)
    )


def dhcp_ack(mac: str, yiaddr: str) -> bytes:
    chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
    return frame(
        Ether(src=GW_MAC, dst=mac)
        / IP(src=GW_IP, dst=yiaddr)
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, chaddr=chaddr, yiaddr=yiaddr, xid=0x1234)
        / DHCP(options=[("message-type", "ack"), ("server_id", GW_IP), "end"])
    )


def arp_reply(mac: str = OTHER_MAC, ip: str = OTHER_IP) -> bytes:
    arp = ARP(op=2, hwsrc=mac, psrc=ip, hwdst=GW_MAC, pdst=GW_IP)
    return frame(Ether(src=mac, dst=GW_MAC) / arp)


def ndp_ns(mac: str = CLIENT_MAC, src: str = CLIENT6, target: str = "2001:db8:100::1") -> bytes:
    return frame(
        Ether(src=mac, dst="33:33:ff:00:00:01")
        / IPv6(src=src, dst="ff02::1:ff00:1")
        / ICMPv6ND_NS(tgt=target)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    )


def ndp_na(mac: str = OTHER_MAC, target: str = "2001:db8:100::42") -> bytes:
    return frame(
        Ether(src=mac, dst=GW_MAC)
        / IPv6(src=target, dst="2001:db8:100::1")
        / ICMPv6ND_NA(tgt=target, S=1, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=mac)
    )


def vlan_dns_query(name: str, vlan: int = 30) -> bytes:
    return frame(
        ether()
        / Dot1Q(vlan=vlan)
        / IP(src=CLIENT_IP, dst=RESOLVER_IP)
        / UDP(sport=40001, dport=53)
        / DNS(rd=1, qd=DNSQR(qname=name))
    )


def ipv6_ext_dns_query(name: str) -> bytes:
    return frame(
        ether()
        / IPv6(src=CLIENT6, dst="2001:db8:203::53")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / UDP(sport=40002, dport=53)
        / DNS(rd=1, qd=DNSQR(qname=name))
    )


def ipv4_options_dns_query(name: str) -> bytes:
    from scapy.layers.inet import IPOption_RR

    return frame(
        ether()
        / IP(src=CLIENT_IP, dst=RESOLVER_IP, options=[IPOption_RR(routers=["198.51.100.1"])])
        / UDP(sport=40003, dport=53)
        / DNS(rd=1, qd=DNSQR(qname=name))
    )


def write_pcap(path: str, frames: list[tuple[float, bytes]], linktype: int = 1) -> None:
    with RawPcapWriter(path, linktype=linktype, sync=False) as w:
        w.write_header(None)
        for ts, data in frames:
            sec = int(ts)
            w.write_packet(data, sec=sec, usec=int(round((ts - sec) * 1e6)))
