"""The general frame path: any frame :func:`monitor.capture.frames.decode` can read (VLAN
tags, IP options, fragments, ARP, NDP, DHCP, other link types), dispatched by protocol. It
owns all error accounting: parsers raise, :class:`~monitor.capture.pipeline.PacketPipeline`
counts."""

from __future__ import annotations

import socket
import struct
from collections import Counter

from allowlist.observation import Channel, Observation
from monitor import dnswire
from monitor.capture import dhcp as dhcpmod
from monitor.capture.addresses import Addresses
from monitor.capture.counters import PipelineCounters
from monitor.capture.frames import (
    ETH_P_ARP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    FrameError,
    Packet,
    decode,
    parse_arp,
    parse_ndp,
)
from monitor.capture.names import Emit
from monitor.capture.quic import QuicSniTracker, looks_like_client_initial
from monitor.capture.reassembly import FlowKey
from monitor.capture.streams import SYN_RST, Streams

_u16 = struct.Struct("!H").unpack_from
_pton = socket.inet_pton
_pack_ports = struct.Struct("!HH").pack


def flow_key(pkt: Packet) -> FlowKey:
    """The TCP flow key, byte-identical to the lean path's slice of the frame (source
    address, destination address, source port, destination port, all raw)."""
    assert pkt.src_ip is not None and pkt.dst_ip is not None
    af = socket.AF_INET6 if ":" in pkt.src_ip else socket.AF_INET
    return _pton(af, pkt.src_ip) + _pton(af, pkt.dst_ip) + _pack_ports(pkt.sport, pkt.dport)


class GeneralPath:
    """Decode one frame and dispatch it; parser errors propagate to the caller."""

    def __init__(self, counters: PipelineCounters, error_reasons: Counter[str],
                 addresses: Addresses, streams: Streams, quic: QuicSniTracker, emit: Emit, *,
                 dns_ports: frozenset[int], quic_ports: frozenset[int]) -> None:
        self.counters = counters
        self.error_reasons = error_reasons
        self.addresses = addresses
        self.streams = streams
        self.quic = quic
        self.emit = emit
        self.dns_ports = dns_ports
        self.quic_ports = quic_ports

    def __call__(self, ts: float, frame: bytes, linktype: int, out: list[Observation]) -> None:
        pkt = decode(frame, linktype)
        if pkt is None:
            self.counters.ignored += 1
            return
        self._dispatch(ts, pkt, out)

    def _dispatch(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        a = self.addresses
        if pkt.ethertype == ETH_P_ARP:
            nb = parse_arp(pkt)
            if nb is not None and a.in_scope(nb.ip):
                a.learn(nb.ip, nb.mac)
            return
        src = pkt.src_ip
        if src is None or pkt.dst_ip is None:
            self.counters.ignored += 1
            return
        smac = pkt.src_mac
        if smac and not int(smac[:2], 16) & 1 and a.is_chamber(src):
            a.learn(src, smac, strong=False)
        proto = pkt.proto
        if proto == IPPROTO_UDP:
            self._udp(ts, pkt, out)
        elif proto == IPPROTO_TCP:
            self._tcp(ts, pkt, out)
        elif proto == IPPROTO_ICMPV6:
            try:
                nb = parse_ndp(pkt)
            except FrameError as exc:
                self.counters.ndp_errors += 1
                self.error_reasons["ndp:" + exc.reason] += 1
                return
            if nb is not None and a.in_scope(nb.ip):
                a.learn(nb.ip, nb.mac)
        else:
            self.counters.ignored += 1

    def _udp(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        sport, dport = pkt.sport, pkt.dport
        if dport in self.dns_ports:
            self._dns_query(ts, pkt, out)
        elif sport in self.dns_ports:
            self._dns_response(ts, pkt, out)
        elif dport == 67 or (sport == 67 and dport == 68):
            self._dhcp(ts, pkt, out)
        elif dport in self.quic_ports and looks_like_client_initial(pkt.payload):
            # Only what can be a client's first flight is worth deriving keys for.
            names = self.quic.datagram(ts, pkt.payload)
            src = pkt.src_ip
            assert src is not None
            for name in names:
                self.counters.quic_sni += 1
                self.emit(ts, self.addresses.client_mac(src, pkt.src_mac), src, Channel.QUIC,
                          name, out)
        else:
            self.counters.ignored += 1

    def _dns_query(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        q = dnswire.parse_query(pkt.payload)
        self.counters.dns_queries += 1
        src = pkt.src_ip
        assert src is not None
        self.emit(ts, self.addresses.client_mac(src, pkt.src_mac), src, Channel.DNS, q.name,
                  out)

    def _dns_response(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        buf = pkt.payload
        if len(buf) < 12:
            raise dnswire.DnsError("shorter than a DNS header")
        flags, qd = _u16(buf, 2)[0], _u16(buf, 4)[0]
        if not flags & 0x8000:
            raise dnswire.DnsError("a query from the server port")
        if (flags >> 11) & 0xF != 0 or qd == 0:
            self.counters.ignored += 1
            return
        if qd > 4:
            raise dnswire.DnsError("implausible question count")
        self.counters.dns_responses += 1
        dst = pkt.dst_ip
        assert dst is not None
        mac = self.addresses.client_mac(dst, pkt.dst_mac)
        off = 12
        for _ in range(qd):
            # Only the question is needed: it is what the client asked for.
            name, off = dnswire.read_name(buf, off)
            off += 4
            if off > len(buf):
                raise dnswire.DnsError("truncated question")
            self.emit(ts, mac, dst, Channel.DNS, name, out)

    def _dhcp(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        a = self.addresses
        msg = dhcpmod.parse_dhcp(pkt.payload)
        self.counters.dhcp_messages += 1
        mac = msg.chaddr
        if mac is None:
            return
        if msg.op == dhcpmod.BOOTREPLY:
            if msg.msg_type == dhcpmod.ACK:
                ip = msg.yiaddr or msg.ciaddr
                if ip is not None and a.in_scope(ip):
                    a.learn(ip, mac)
            return
        if msg.ciaddr is not None and msg.ciaddr == pkt.src_ip:
            a.learn(msg.ciaddr, mac)  # a renewing client speaking from its address
        if msg.hostname:
            try:
                hostname = msg.hostname.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                self.counters.invalid_names += 1
                return
            self.emit(ts, mac, msg.client_ip, Channel.DHCP, hostname, out, True)

    def _tcp(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        payload = pkt.payload
        flags = pkt.tcp_flags
        if not payload and not flags & SYN_RST:
            return  # pure ACKs and FINs: nothing to reassemble
        res = self.streams.segment(ts, flow_key(pkt), pkt.tcp_seq, flags, payload, pkt.dport)
        if res is not None:
            src = pkt.src_ip
            assert src is not None
            self.emit(ts, self.addresses.client_mac(src, pkt.src_mac), src, res[0], res[1],
                      out)
