"""The lean frame path: common, well-formed Ethernet frames handled without decoding them.

Most frames cannot carry a name (downloads' ACKs, mid-stream TLS, NTP …) and most of the rest
are DNS queries for names seen moments ago. This path takes Ethernet + IPv4 without options
or IPv6 without extension headers, then UDP/TCP; it reads headers by direct byte indexing,
creates no per-packet objects, formats addresses only for frames that yield an observation,
rejects noise on ports and flags, and maps a DNS question's wire bytes straight to its name
through a bounded cache. It takes a frame only when it can handle it completely; anything
else (VLAN tags, IP options, fragments, ARP, NDP, DHCP, other link types, malformed frames)
is left untouched for the general path (:mod:`monitor.capture.general`), so both give the same
observations, counters and address book (checked by a differential test).
"""

from __future__ import annotations

import struct

from allowlist.observation import Channel, Observation
from monitor.capture.addresses import Addresses, End
from monitor.capture.attempts import Attempts
from monitor.capture.counters import PipelineCounters
from monitor.capture.frames import IPPROTO_ICMPV6, TCP_ACK, TCP_RST, TCP_SYN
from monitor.capture.http import METHOD_FIRST_BYTES, looks_like_http
from monitor.capture.names import Emit, Names
from monitor.capture.quic import QuicSniTracker, looks_like_client_initial
from monitor.capture.streams import SYN_RST, Streams

_u32 = struct.Struct("!I").unpack_from
_udp_ports = struct.Struct("!HHH").unpack_from  # sport, dport, length
# (MAC, address) of a frame's source / destination, for Ethernet + IPv4 / IPv6.
_who4 = struct.Struct("6x6s14x4s").unpack_from
_whom4 = struct.Struct("6s24x4s").unpack_from
_who6 = struct.Struct("6x6s10x16s").unpack_from
_whom6 = struct.Struct("6s32x16s").unpack_from
# IPv6 next headers the general path must walk (extension headers) or parse (ICMPv6).
_GENERAL_PROTOS = frozenset((0, 43, 44, 51, 60, IPPROTO_ICMPV6))
_SYN_ACK = TCP_SYN | TCP_ACK
_SYN_ACK_RST = TCP_SYN | TCP_ACK | TCP_RST
_DNS = Channel.DNS
_QUIC = Channel.QUIC



class LeanPath:
    """Called with one Ethernet frame; True when it handled it completely."""

    def __init__(self, counters: PipelineCounters, addresses: Addresses, names: Names,
                 attempts: Attempts, streams: Streams, quic: QuicSniTracker, emit: Emit, *,
                 dns_ports: frozenset[int], quic_ports: frozenset[int]) -> None:
        self.counters = counters
        self.addresses = addresses
        # The address tables (never replaced, only cleared), read directly on the hot path.
        self._ends = addresses.ends
        self._entries = addresses.book.entries
        self._classify = addresses.classify
        self._learn = addresses.learn
        self.names = names
        self._questions = names.questions
        self.record = attempts.record
        self.streams = streams
        self.quic = quic
        self.emit = emit
        self.dns_ports = dns_ports
        self.quic_ports = quic_ports

    def __call__(self, ts: float, f: bytes, out: list[Observation]) -> bool:
        """Handle an Ethernet frame of a common, well-formed shape completely and return
        True; otherwise return False having changed nothing (the general path takes it).

        Offsets: ``l4`` the transport header, ``end`` the end of the IP payload (trimmed as
        :mod:`frames` trims it).
        """
        n = len(f)
        if n < 42:
            return False
        if f[12] == 8 and f[13] == 0:
            if f[14] != 0x45 or f[20] & 0x1F or f[21]:
                return False  # IP options, a bad version, or a non-first fragment
            end = 14 + ((f[16] << 8) | f[17])
            if end < 34:
                return False
            if end > n:
                end = n
            proto = f[23]
            v6 = False
            l4 = 34
        elif f[12] == 0x86 and f[13] == 0xDD:
            if n < 62 or f[14] >> 4 != 6:
                return False
            plen = (f[18] << 8) | f[19]
            if not plen:
                return False  # jumbogram
            end = 54 + plen
            if end > n:
                end = n
            proto = f[20]
            v6 = True
            l4 = 54
        else:
            return False
        c = self.counters
        attribute = self.addresses.attribute
        if proto == 17:  # UDP
            if l4 + 8 > end:
                return False
            sport, dport, ulen = _udp_ports(f, l4)
            if ulen >= 8 and l4 + ulen < end:
                end = l4 + ulen
            p = l4 + 8
            if dport in self.dns_ports:
                name = self._question(f, p, end, False)
                if name is None:
                    return False
                src = self._source(f, v6)
                c.dns_queries += 1
                if not name:
                    c.invalid_names += 1
                    return True
                self.record(ts, attribute(src), src[0], _DNS, name, out)
                return True
            if sport in self.dns_ports:
                name = self._question(f, p, end, True)
                if name is None:
                    return False
                self._source(f, v6)
                c.dns_responses += 1
                if not name:
                    c.invalid_names += 1
                    return True
                dst = self._destination(f, v6)
                self.record(ts, attribute(dst), dst[0], _DNS, name, out)
                return True
            if dport == 67 or (sport == 67 and dport == 68):
                return False  # DHCP: rare, the general path has the parser
            src = self._source(f, v6)
            if dport in self.quic_ports and end - p >= 1200:
                payload = f[p:end]
                if looks_like_client_initial(payload):
                    for raw in self.quic.datagram(ts, payload):
                        c.quic_sni += 1
                        self.emit(ts, attribute(src), src[0], _QUIC, raw, out)
                    return True
            c.ignored += 1
            return True
        if proto == 6:  # TCP
            if l4 + 20 > end:
                return False
            hlen = (f[l4 + 12] >> 4) * 4
            p = l4 + hlen
            if hlen < 20 or p > end:
                return False
            src = self._source(f, v6)
            flags = f[l4 + 13]
            if flags & SYN_RST:
                if flags & _SYN_ACK_RST == _SYN_ACK:
                    return True  # a server's SYN-ACK: its stream is not one we parse
            elif p == end:
                return True  # pure ACKs and FINs: nothing to reassemble
            # Source address, destination address (adjacent: no options or extension
            # headers on this path), then the two ports: the same bytes as general.flow_key.
            key = f[l4 - 32 if v6 else l4 - 8 : l4 + 4]
            dport = (f[l4 + 2] << 8) | f[l4 + 3]
            streams = self.streams
            if not flags & SYN_RST and dport not in self.dns_ports and key not in streams.flows:
                # Data on a stream we are not following: only the start of a ClientHello or
                # of an HTTP request may open one (mid-stream data is noise). This is the
                # reassembler's may_start test, read off the frame without copying it.
                b0 = f[p]
                if b0 == 0x16:
                    if not (end - p >= 6 and f[p + 1] == 3 and f[p + 5] == 1):
                        return True
                elif b0 not in METHOD_FIRST_BYTES or not looks_like_http(f[p : p + 8]):
                    return True
            res = streams.segment(ts, key, _u32(f, l4 + 4)[0], flags, f[p:end], dport)
            if res is not None:
                self.emit(ts, attribute(src), src[0], res[0], res[1], out)
            return True
        if v6 and proto in _GENERAL_PROTOS:
            return False  # extension headers, ICMPv6 (neighbour discovery): general path
        self._source(f, v6)
        c.ignored += 1
        return True

    def _source(self, f: bytes, v6: bool) -> End:
        """The frame's source, after teaching the address book (a weak binding when
        eligible) — what the general path does for every IP frame, here cached on the raw
        bytes."""
        who = _who6(f) if v6 else _who4(f)
        src = self._ends.get(who)
        if src is None:
            src = self._classify(who)
        if src[2]:
            ip, mac = src[0], src[1]
            if self._entries.get(ip) != mac:
                self._learn(ip, mac, strong=False)
        return src

    def _destination(self, f: bytes, v6: bool) -> End:
        """The frame's destination (for answers to clients)."""
        who = _whom6(f) if v6 else _whom4(f)
        dst = self._ends.get(who)
        return dst if dst is not None else self._classify(who)

    def _question(self, f: bytes, p: int, end: int, response: bool) -> str | None:
        """Normalised name of the single question of a DNS query (or of a response), "" if
        the name is not a valid host name, None if the message needs the general path (it
        is malformed, has another shape, or uses a pointer in its question).

        Accepts exactly what :func:`dnswire.parse_query` (or the general response path)
        accepts and yields the same name: checks the header, finds the question name's
        terminating zero, then maps the wire bytes to the name through a cache.
        """
        if end - p < (12 if response else 17):
            return None
        flags = f[p + 2]
        if response:
            if not flags & 0x80 or flags & 0x78:
                return None
        elif flags & 0xF8:
            return None
        if f[p + 4] or f[p + 5] != 1:
            return None
        q = p + 12
        z = f.find(b"\x00", q, end)
        if z < 0 or z + 5 > end:
            return None
        wire = f[q:z]
        name = self._questions.get(wire)  # the common case: a name asked moments ago
        return name if name is not None else self.names.question(wire)
