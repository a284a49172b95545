"""Client TCP segments → the name their stream carries: a DNS-over-TCP question, a TLS
ClientHello's SNI, or an HTTP request's Host. Both frame paths hand segments here."""

from __future__ import annotations

import struct

from allowlist.observation import Channel
from monitor import dnswire
from monitor.capture.counters import PipelineCounters
from monitor.capture.frames import TCP_ACK, TCP_RST, TCP_SYN
from monitor.capture.http import HttpStatus, host_from_request, looks_like_http
from monitor.capture.reassembly import FlowKey, TcpReassembler
from monitor.capture.tls import NEED_MORE, NO_SNI, looks_like_client_hello, sni_from_stream

SYN_RST = TCP_SYN | TCP_RST
_u16 = struct.Struct("!H").unpack_from


class Streams:
    """Reassembles what a client sends and parses the first message of each stream."""

    def __init__(self, tcp: TcpReassembler, counters: PipelineCounters,
                 dns_ports: frozenset[int]) -> None:
        self.tcp = tcp
        self.counters = counters
        self.dns_ports = dns_ports
        self.flows = tcp.flows  # the reassembler's table (never replaced), read-only

    def segment(self, ts: float, key: FlowKey, seq: int, flags: int, payload: bytes,
                dport: int) -> tuple[Channel, str] | None:
        """One client segment into reassembly; the (channel, raw name) it completes."""
        if flags & TCP_SYN and flags & TCP_ACK and not flags & TCP_RST:
            return None  # a server's SYN-ACK: its stream is not one we parse
        tcp_dns = dport in self.dns_ports
        may_start = False
        if not flags & SYN_RST and key not in self.flows:
            # Only the reassembler's "no flow yet, no SYN" case asks whether data may start
            # a stream; everything else it would discard here is mid-stream noise.
            may_start = bool(payload) and (
                tcp_dns or looks_like_client_hello(payload) or looks_like_http(payload)
            )
            if not may_start:
                return None
        tcp = self.tcp
        prefix = tcp.segment(ts, key, seq, flags, payload, may_start)
        if prefix is None:
            return None
        c = self.counters
        if tcp_dns:
            if len(prefix) < 2 or len(prefix) < 2 + _u16(prefix, 0)[0]:
                if tcp.is_full(len(prefix)):
                    tcp.finish(key)
                return None
            tcp.finish(key)
            q = dnswire.parse_query(prefix[2 : 2 + _u16(prefix, 0)[0]])
            c.dns_queries += 1
            return Channel.DNS, q.name
        if prefix[0] == 0x16:
            res = sni_from_stream(prefix)
            if res is NEED_MORE:
                if tcp.is_full(len(prefix)):
                    c.tls_gave_up += 1
                    tcp.finish(key)
                return None
            tcp.finish(key)
            if isinstance(res, str):
                c.tls_sni += 1
                return Channel.TLS, res
            if res is NO_SNI:
                c.tls_no_sni += 1
            else:
                c.tls_errors += 1
            return None
        hres = host_from_request(prefix)
        if hres is HttpStatus.NEED_MORE:
            if tcp.is_full(len(prefix)):
                tcp.finish(key)
            return None
        tcp.finish(key)
        if isinstance(hres, str):
            c.http_host += 1
            return Channel.HTTP, hres
        if hres is HttpStatus.NO_HOST:
            c.http_errors += 1
        else:
            c.ignored += 1  # some other protocol on a SYN-tracked flow
        return None
