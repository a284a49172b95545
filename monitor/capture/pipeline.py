"""Frames in, observations out: the passive monitor's whole logic, with no I/O.

:class:`PacketPipeline` is fed ``(timestamp, frame bytes)`` by the live socket
(:mod:`monitor.capture.socket`), by pcap replay (:mod:`monitor.capture.replay`) or by a test,
and returns :class:`~allowlist.observation.Observation` records for five channels:

- ``dns``: names in client queries, and in the question of responses sent to clients (so a
  one-directional mirror still sees the lookup);
- ``tls``: the SNI of a TCP ClientHello (reassembled when it spans segments);
- ``quic``: the SNI inside a QUIC v1/v2 client Initial (only datagrams that look like one —
  long header, Initial type, v1/v2, ≥ 1200 bytes — are decrypted);
- ``http``: the Host header of a plain HTTP/1.x request;
- ``dhcp``: the hostname a client announces (``domain`` holds the hostname).

It keeps an address book (IP → MAC) learned from DHCP ACKs, ARP, IPv6 neighbour discovery
and the source MAC of frames from chamber-side addresses (the last only where the others
have said nothing, since behind a router every frame carries the router's MAC), so
observations of routed traffic still name the device.

**One attempt, one observation.** A phone looks a name up (often A, AAAA and HTTPS at once)
and then connects with TLS or QUIC. Every sighting of the same (device, name) — the device is
its MAC when known, else its IP — within ``dedup_window`` seconds of the first is folded into
the first. ``feed`` returns a :class:`CaptureObservation` (a subclass of ``Observation``, so
consumers that only know ``Observation`` work unchanged) for the first sighting only, with
``channels`` holding the channel(s) seen so far and an ``attempt`` id. A consumer that wants
to learn the channels seen later sets ``report_merges=True``: each *new* channel for an open
attempt then also yields a ``CaptureObservation`` with ``merged=True``, the same ``attempt``
id, the first sighting's fields and the grown ``channels`` — an update to the attempt already
delivered, never a new attempt. DHCP hostnames are deduplicated among themselves only.

**Fast path.** Most frames cannot carry a name (downloads' ACKs, mid-stream TLS, NTP …) and
most of the rest are DNS queries for names seen moments ago. :meth:`PacketPipeline.feed`
first tries a lean path for the common shapes — Ethernet + IPv4 without options or IPv6
without extension headers, then UDP/TCP — that reads headers by direct byte indexing, creates
no per-packet objects, formats addresses only for frames that yield an observation, rejects
noise on ports and flags, and maps a DNS question's wire bytes straight to its normalised
name through a bounded cache. Anything else (VLAN tags, IP options, fragments, ARP, NDP,
DHCP, other link types, and every frame the lean path finds malformed) takes the general
path through :func:`~monitor.capture.frames.decode`, which owns all error accounting. The
lean path only ever takes a frame it can handle completely, so both paths give the same
observations, counters and address book (checked by a differential test). In front of both,
the kernel's BPF filter (:mod:`monitor.capture.bpf_filter`) already drops almost
every frame that cannot carry a name.

**Never dies silently.** No exception escapes :meth:`PacketPipeline.feed`: parser errors are
counted per parser in :class:`PipelineCounters` and per reason in ``error_reasons``; anything
unexpected is counted as ``internal_errors`` and logged with its traceback (once per reason).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, fields

from allowlist.names import DomainError, fast_normalise, normalise_domain, wire_name
from allowlist.observation import Channel, Observation
from monitor import dnswire
from monitor.capture import dhcp as dhcpmod
from monitor.capture.frames import (
    DLT_EN10MB,
    ETH_P_ARP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_RST,
    TCP_SYN,
    FrameError,
    Packet,
    decode,
    parse_arp,
    parse_ndp,
)
from monitor.capture.http import (
    METHOD_FIRST_BYTES,
    HttpStatus,
    host_from_request,
    looks_like_http,
)
from monitor.capture.quic import QuicError, QuicSniTracker, looks_like_client_initial
from monitor.capture.reassembly import FlowKey, TcpReassembler
from monitor.capture.tls import NEED_MORE, NO_SNI, looks_like_client_hello, sni_from_stream

log = logging.getLogger(__name__)

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_WIRE_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_udp_ports = struct.Struct("!HHH").unpack_from  # sport, dport, length
# (MAC, address) of a frame's source / destination, for Ethernet + IPv4 / IPv6.
_who4 = struct.Struct("6x6s14x4s").unpack_from
_whom4 = struct.Struct("6s24x4s").unpack_from
_who6 = struct.Struct("6x6s10x16s").unpack_from
_whom6 = struct.Struct("6s32x16s").unpack_from
_ntop = socket.inet_ntop
_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_pack_ports = struct.Struct("!HH").pack
# IPv6 next headers the general path must walk (extension headers) or parse (ICMPv6).
_GENERAL_PROTOS = frozenset((0, 43, 44, 51, 60, IPPROTO_ICMPV6))
_CACHE_LIMIT = 16384  # entries in each of the small per-pipeline caches (then cleared)
_SYN_RST = TCP_SYN | TCP_RST
_SYN_ACK = TCP_SYN | TCP_ACK
_SYN_ACK_RST = TCP_SYN | TCP_ACK | TCP_RST
_DNS = Channel.DNS
_QUIC = Channel.QUIC


@dataclass(frozen=True, slots=True)
class CaptureObservation(Observation):
    """An observation from the passive monitor, with what deduplication learned.

    ``channels``: every channel this attempt was seen on (so far); ``attempt``: an id unique
    within one pipeline, shared by the first sighting and its merge updates; ``merged``: True
    for an update about an attempt already returned (only with ``report_merges``).
    """

    channels: frozenset[Channel] = frozenset()
    attempt: int = 0
    merged: bool = False


_ONE_CHANNEL = {ch: frozenset((ch,)) for ch in Channel}


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Tuning for one pipeline. Defaults suit one chamber's Wi-Fi.

    ``chamber_networks``: the client subnets (CIDR text). When set, only clients inside them
    produce observations and only their frames teach the address book; when empty, every
    client counts and MACs are learned from private, link-local and ULA sources.
    """

    chamber_networks: tuple[str, ...] = ()
    dedup_window: float = 10.0
    report_merges: bool = False
    linktype: int = DLT_EN10MB
    dns_ports: frozenset[int] = frozenset({53})
    quic_ports: frozenset[int] = frozenset({443})
    max_flows: int = 4096
    max_flow_bytes: int = 16384
    max_flow_total_bytes: int = 8 << 20
    flow_idle_timeout: float = 30.0
    quic_max_conns: int = 1024
    quic_timeout: float = 10.0
    address_book_size: int = 65536
    dedup_size: int = 65536


@dataclass(slots=True)
class PipelineCounters:
    """Plain counters for health reporting; every dropped or failed input lands in one."""

    frames: int = 0
    ignored: int = 0  # not IP/ARP, non-first fragments, uninteresting ports
    observations: int = 0
    duplicates: int = 0  # same attempt, same channel, inside the window
    merged: int = 0  # same attempt seen on a further channel
    invalid_names: int = 0
    outside_chamber: int = 0
    dns_queries: int = 0
    dns_responses: int = 0
    tls_sni: int = 0
    tls_no_sni: int = 0
    tls_gave_up: int = 0  # stream cap reached or stream ended before a full ClientHello
    quic_sni: int = 0
    http_host: int = 0
    dhcp_messages: int = 0
    neighbours: int = 0  # address-book changes (DHCP, ARP, NDP, frame source MACs)
    frame_errors: int = 0
    dns_errors: int = 0
    tls_errors: int = 0  # stream started like TLS but was not a ClientHello
    http_errors: int = 0
    quic_errors: int = 0
    dhcp_errors: int = 0
    ndp_errors: int = 0
    internal_errors: int = 0  # a bug: logged with traceback

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Attempt:
    __slots__ = ("obs", "channels")

    def __init__(self, obs: CaptureObservation) -> None:
        self.obs = obs
        self.channels = {obs.channel}


@dataclass(slots=True)
class _Book:
    """IP → MAC, bounded (oldest binding dropped first).

    DHCP ACKs, ARP and neighbour discovery are *strong* evidence; a frame's source MAC is
    *weak* (behind a router every frame carries the router's MAC) and never overrides a
    strong binding, only fills in where there is none.
    """

    limit: int
    entries: dict[str, str] = field(default_factory=dict)
    strong: set[str] = field(default_factory=set)

    def learn(self, ip: str, mac: str, strong: bool) -> bool:
        entries = self.entries
        if entries.get(ip) == mac:
            if strong:
                self.strong.add(ip)
            return False
        if not strong and ip in self.strong:
            return False
        if ip in entries:
            del entries[ip]
        elif len(entries) >= self.limit:
            old = next(iter(entries))
            del entries[old]
            self.strong.discard(old)
        entries[ip] = mac
        if strong:
            self.strong.add(ip)
        else:
            self.strong.discard(ip)
        return True


def _flow_key(pkt: Packet) -> FlowKey:
    """The general path's TCP flow key, byte-identical to the lean path's slice of the frame
    (source address, destination address, source port, destination port, all raw)."""
    assert pkt.src_ip is not None and pkt.dst_ip is not None
    af = _AF_INET6 if ":" in pkt.src_ip else _AF_INET
    return _pton(af, pkt.src_ip) + _pton(af, pkt.dst_ip) + _pack_ports(pkt.sport, pkt.dport)


class PacketPipeline:
    """Sans-io core of the passive monitor. Not thread-safe: one feeder at a time."""

    #: Tests turn the lean path off to check both paths agree; nothing else should.
    use_fast_path = True

    def __init__(self, config: PipelineConfig | None = None) -> None:
        cfg = config or PipelineConfig()
        self.config = cfg
        self.counters = PipelineCounters()
        self.error_reasons: Counter[str] = Counter()
        self._networks = [ipaddress.ip_network(n, strict=False) for n in cfg.chamber_networks]
        self._chamber_cache: dict[str, bool] = {}
        self._book = _Book(cfg.address_book_size)
        self._tcp = TcpReassembler(
            max_bytes=cfg.max_flow_bytes,
            max_flows=cfg.max_flows,
            max_total_bytes=cfg.max_flow_total_bytes,
            idle_timeout=cfg.flow_idle_timeout,
        )
        self._quic = QuicSniTracker(
            max_conns=cfg.quic_max_conns,
            max_bytes=cfg.max_flow_bytes,
            timeout=cfg.quic_timeout,
        )
        self._attempts: OrderedDict[tuple[str, ...], _Attempt] = OrderedDict()
        self._next_attempt = 0
        self._logged: set[str] = set()
        self._dns_ports = cfg.dns_ports
        self._quic_ports = cfg.quic_ports
        self._window = cfg.dedup_window
        self._flows = self._tcp.flows  # the reassembler's table (never replaced), read-only
        # Lean-path caches, all bounded by _CACHE_LIMIT (cleared when full):
        # DNS question wire bytes → normalised name ("" when invalid);
        self._qnames: dict[bytes, str] = {}
        # raw name from TLS/QUIC/HTTP → normalised name ("" when invalid);
        self._names: dict[str, str] = {}
        # raw (MAC, address) of a frame's end → (address, MAC, eligible); see _source().
        self._sources: dict[tuple[bytes, bytes], tuple[str, str, bool]] = {}

    # ----------------------------------------------------------------- public

    @property
    def tcp(self) -> TcpReassembler:
        return self._tcp

    @property
    def quic(self) -> QuicSniTracker:
        return self._quic

    @property
    def address_book(self) -> dict[str, str]:
        """A copy of the IP → MAC bindings learned so far."""
        return dict(self._book.entries)

    def health(self) -> dict[str, int]:
        """Every counter in one flat dict (pipeline, TCP reassembly, QUIC tracker, table
        sizes), for the dashboard's capture-health panel and for logs."""
        out = self.counters.as_dict()
        tcp, quic = self._tcp.stats, self._quic.stats
        out.update({"tcp_" + f.name: getattr(tcp, f.name) for f in fields(tcp)})
        out.update({"quic_" + f.name: getattr(quic, f.name) for f in fields(quic)})
        out["tcp_flows"] = len(self._tcp)
        out["tcp_buffered_bytes"] = self._tcp.buffered_bytes
        out["quic_conns"] = len(self._quic)
        out["address_book"] = len(self._book.entries)
        out["open_attempts"] = len(self._attempts)
        return out

    def mac_for(self, ip: str) -> str | None:
        return self._book.entries.get(ip)

    def feed(self, ts: float, frame: bytes, linktype: int | None = None) -> list[Observation]:
        """Process one captured frame; return the observations it completes.

        The list holds :class:`CaptureObservation` instances (see the module docstring for
        the deduplication contract). ``linktype`` overrides the configured one for this frame
        (pcapng files carry one per interface). Never raises.
        """
        self.counters.frames += 1
        out: list[Observation] = []
        if linktype is None:
            linktype = self.config.linktype
        if linktype == DLT_EN10MB and self.use_fast_path:
            try:
                if self._lean(ts, frame, out):
                    return out
            except Exception as exc:  # noqa: BLE001 - counted like the general path's
                self._fault(exc)
                return out
        self._general(ts, frame, linktype, out)
        return out

    def _general(self, ts: float, frame: bytes, linktype: int, out: list[Observation]) -> None:
        """The general path: decode any frame of ``linktype`` and dispatch it."""
        try:
            pkt = decode(frame, linktype)
            if pkt is None:
                self.counters.ignored += 1
                return
            self._dispatch(ts, pkt, out)
        except Exception as exc:  # noqa: BLE001 - the monitor must outlive any bug
            self._fault(exc)

    def _fault(self, exc: Exception) -> None:
        """Count what a frame raised: a parser's declared error per parser and reason, and
        anything else as an internal error, logged with its traceback once per kind."""
        c = self.counters
        if isinstance(exc, FrameError):
            c.frame_errors += 1
            self.error_reasons["frame:" + exc.reason] += 1
        elif isinstance(exc, dnswire.DnsError):
            c.dns_errors += 1
            self.error_reasons["dns:" + str(exc)] += 1
        elif isinstance(exc, QuicError):
            c.quic_errors += 1
            self.error_reasons["quic:" + exc.reason] += 1
        elif isinstance(exc, dhcpmod.DhcpError):
            c.dhcp_errors += 1
            self.error_reasons["dhcp:" + str(exc)] += 1
        else:
            c.internal_errors += 1
            reason = f"internal:{type(exc).__name__}"
            self.error_reasons[reason] += 1
            if reason not in self._logged and len(self._logged) < 64:
                self._logged.add(reason)
                log.error(
                    "capture pipeline bug (further %s are only counted)", reason, exc_info=exc
                )

    def expire(self, now: float) -> None:
        """Drop idle state; ``feed`` does this itself, a live loop may call it when quiet."""
        self._tcp.expire(now)
        self._quic.expire(now)
        self._expire_attempts(now)

    # -------------------------------------------------------------- lean path

    def _lean(self, ts: float, f: bytes, out: list[Observation]) -> bool:
        """Handle an Ethernet frame of a common, well-formed shape completely and return
        True; otherwise return False having changed nothing (the general path takes it).

        Offsets: ``l4`` the transport header, ``end`` the end of the IP payload (trimmed as
        :mod:`frames` trims it). ``who`` is the frame's source (MAC, address) as raw bytes:
        the key of the per-source cache that stands in for formatting and classifying them.
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
        if proto == 17:  # UDP
            if l4 + 8 > end:
                return False
            sport, dport, ulen = _udp_ports(f, l4)
            if ulen >= 8 and l4 + ulen < end:
                end = l4 + ulen
            p = l4 + 8
            if dport in self._dns_ports:
                name = self._lean_question(f, p, end, False)
                if name is None:
                    return False
                src = self._source(f, v6)
                c.dns_queries += 1
                if not name:
                    c.invalid_names += 1
                    return True
                self._record(ts, self._attribute(src), src[0], _DNS, name, out)
                return True
            if sport in self._dns_ports:
                name = self._lean_question(f, p, end, True)
                if name is None:
                    return False
                self._source(f, v6)
                c.dns_responses += 1
                if not name:
                    c.invalid_names += 1
                    return True
                dst = self._destination(f, v6)
                self._record(ts, self._attribute(dst), dst[0], _DNS, name, out)
                return True
            if dport == 67 or (sport == 67 and dport == 68):
                return False  # DHCP: rare, the general path has the parser
            src = self._source(f, v6)
            if dport in self._quic_ports and end - p >= 1200:
                payload = f[p:end]
                if looks_like_client_initial(payload):
                    for raw in self._quic.datagram(ts, payload):
                        c.quic_sni += 1
                        self._emit(ts, self._attribute(src), src[0], _QUIC, raw, out)
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
            if flags & _SYN_RST:
                if flags & _SYN_ACK_RST == _SYN_ACK:
                    return True  # a server's SYN-ACK: its stream is not one we parse
            elif p == end:
                return True  # pure ACKs and FINs: nothing to reassemble
            # Source address, destination address (adjacent: no options or extension
            # headers on this path), then the two ports: the same bytes as _flow_key().
            key = f[l4 - 32 if v6 else l4 - 8 : l4 + 4]
            dport = (f[l4 + 2] << 8) | f[l4 + 3]
            if not flags & _SYN_RST and dport not in self._dns_ports and key not in self._flows:
                # Data on a stream we are not following: only the start of a ClientHello or
                # of an HTTP request may open one (mid-stream data is noise). This is the
                # reassembler's may_start test, read off the frame without copying it.
                b0 = f[p]
                if b0 == 0x16:
                    if not (end - p >= 6 and f[p + 1] == 3 and f[p + 5] == 1):
                        return True
                elif b0 not in METHOD_FIRST_BYTES or not looks_like_http(f[p : p + 8]):
                    return True
            res = self._stream(ts, key, _u32(f, l4 + 4)[0], flags, f[p:end], dport)
            if res is not None:
                self._emit(ts, self._attribute(src), src[0], res[0], res[1], out)
            return True
        if v6 and proto in _GENERAL_PROTOS:
            return False  # extension headers, ICMPv6 (neighbour discovery): general path
        self._source(f, v6)
        c.ignored += 1
        return True

    def _source(self, f: bytes, v6: bool) -> tuple[str, str, bool]:
        """(address, MAC, eligible) of the frame's source, after teaching the address book.

        ``eligible``: the MAC is unicast and the address a chamber one, so the frame's MAC
        may name the device (:meth:`_client_mac`) and is learned as a weak binding — what the
        general path does for every IP frame, here cached on the raw bytes.
        """
        who = _who6(f) if v6 else _who4(f)
        src = self._sources.get(who)
        if src is None:
            src = self._classify(who)
        if src[2]:
            ip, mac = src[0], src[1]
            if self._book.entries.get(ip) != mac:
                self._learn(ip, mac, strong=False)
        return src

    def _destination(self, f: bytes, v6: bool) -> tuple[str, str, bool]:
        """(address, MAC, eligible) of the frame's destination (for answers to clients)."""
        who = _whom6(f) if v6 else _whom4(f)
        dst = self._sources.get(who)
        return dst if dst is not None else self._classify(who)

    def _classify(self, who: tuple[bytes, bytes]) -> tuple[str, str, bool]:
        raw_mac, raw_ip = who
        ip = _ntop(_AF_INET6 if len(raw_ip) == 16 else _AF_INET, raw_ip)
        mac = raw_mac.hex(":")
        res = (ip, mac, not raw_mac[0] & 1 and self._is_chamber(ip))
        if len(self._sources) >= _CACHE_LIMIT:
            self._sources.clear()
        self._sources[who] = res
        return res

    def _attribute(self, end: tuple[str, str, bool]) -> str | None:
        """:meth:`_client_mac` for a classified (address, MAC, eligible)."""
        mac = self._book.entries.get(end[0])
        if mac is not None:
            return mac
        return end[1] if end[2] else None

    def _lean_question(self, f: bytes, p: int, end: int, response: bool) -> str | None:
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
        name = self._qnames.get(wire)
        if name is None:
            name = self._wire_name(wire)
            if name is None:
                return None
            if len(self._qnames) >= _CACHE_LIMIT:
                self._qnames.clear()
            self._qnames[wire] = name
        return name

    def _wire_name(self, wire: bytes) -> str | None:
        """Uncompressed wire-format labels (without the root label) → normalised name, ""
        for an invalid name, None where :func:`dnswire.read_name` must decode them (pointers,
        over-long, a length that does not end at the zero)."""
        n = len(wire)
        if n > 255:
            return None
        pos = 0
        while pos < n:
            ln = wire[pos]
            if ln & 0xC0:
                return None
            pos += ln + 1
        if pos != n:
            return None
        labels = []
        pos = 0
        while pos < n:
            ln = wire[pos]
            labels.append(wire[pos + 1 : pos + 1 + ln])
            pos += ln + 1
        # the gate's spelling (escapes and all); _name then keeps only valid host names
        return self._name(wire_name(labels)) or ""

    # --------------------------------------------------------------- dispatch

    def _is_chamber(self, ip: str) -> bool:
        cache = self._chamber_cache
        hit = cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.is_unspecified or addr.is_multicast or addr.is_loopback:
            res = False  # DHCP's 0.0.0.0, broadcasts and multicast are nobody's address
        elif self._networks:
            res = any(addr in n for n in self._networks)
        else:
            res = (addr.is_private or addr.is_link_local) and not addr.is_reserved
        if len(cache) >= 4096:
            cache.clear()
        cache[ip] = res
        return res

    def _learn(self, ip: str, mac: str, strong: bool = True) -> None:
        if self._book.learn(ip, mac, strong):
            self.counters.neighbours += 1

    def _client_mac(self, ip: str, frame_mac: str) -> str | None:
        mac = self._book.entries.get(ip)
        if mac is not None:
            return mac
        if frame_mac and self._is_chamber(ip) and not int(frame_mac[:2], 16) & 1:
            return frame_mac
        return None

    def _dispatch(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        if pkt.ethertype == ETH_P_ARP:
            nb = parse_arp(pkt)
            if nb is not None and (not self._networks or self._is_chamber(nb.ip)):
                self._learn(nb.ip, nb.mac)
            return
        src = pkt.src_ip
        if src is None or pkt.dst_ip is None:
            self.counters.ignored += 1
            return
        smac = pkt.src_mac
        if smac and not int(smac[:2], 16) & 1 and self._is_chamber(src):
            self._learn(src, smac, strong=False)
        proto = pkt.proto
        if proto == IPPROTO_UDP:
            self._udp(ts, pkt, out)
        elif proto == IPPROTO_TCP:
            self._tcp_segment(ts, pkt, out)
        elif proto == IPPROTO_ICMPV6:
            try:
                nb = parse_ndp(pkt)
            except FrameError as exc:
                self.counters.ndp_errors += 1
                self.error_reasons["ndp:" + exc.reason] += 1
                return
            if nb is not None and (not self._networks or self._is_chamber(nb.ip)):
                self._learn(nb.ip, nb.mac)
        else:
            self.counters.ignored += 1

    def _udp(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        sport, dport = pkt.sport, pkt.dport
        if dport in self._dns_ports:
            self._dns_query(ts, pkt, pkt.payload, out)
        elif sport in self._dns_ports:
            self._dns_response(ts, pkt, out)
        elif dport == 67 or (sport == 67 and dport == 68):
            self._dhcp(ts, pkt, out)
        elif dport in self._quic_ports and looks_like_client_initial(pkt.payload):
            # Only what can be a client's first flight is worth deriving keys for.
            names = self._quic.datagram(ts, pkt.payload)
            src = pkt.src_ip
            assert src is not None
            for name in names:
                self.counters.quic_sni += 1
                self._emit(ts, self._client_mac(src, pkt.src_mac), src, Channel.QUIC, name, out)
        else:
            self.counters.ignored += 1

    # -------------------------------------------------------------------- dns

    def _dns_query(self, ts: float, pkt: Packet, msg: bytes, out: list[Observation]) -> None:
        q = dnswire.parse_query(msg)
        self.counters.dns_queries += 1
        src = pkt.src_ip
        assert src is not None
        self._emit(ts, self._client_mac(src, pkt.src_mac), src, Channel.DNS, q.name, out)

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
        mac = self._client_mac(dst, pkt.dst_mac)
        off = 12
        for _ in range(qd):
            # Only the question is needed: it is what the client asked for.
            name, off = dnswire.read_name(buf, off)
            off += 4
            if off > len(buf):
                raise dnswire.DnsError("truncated question")
            self._emit(ts, mac, dst, Channel.DNS, name, out)

    # ------------------------------------------------------------------- dhcp

    def _dhcp(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        msg = dhcpmod.parse_dhcp(pkt.payload)
        self.counters.dhcp_messages += 1
        mac = msg.chaddr
        if mac is None:
            return
        if msg.op == dhcpmod.BOOTREPLY:
            if msg.msg_type == dhcpmod.ACK:
                ip = msg.yiaddr or msg.ciaddr
                if ip is not None and (not self._networks or self._is_chamber(ip)):
                    self._learn(ip, mac)
            return
        if msg.ciaddr is not None and msg.ciaddr == pkt.src_ip:
            self._learn(msg.ciaddr, mac)  # a renewing client speaking from its address
        if msg.hostname:
            try:
                hostname = msg.hostname.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                self.counters.invalid_names += 1
                return
            self._emit(ts, mac, msg.client_ip, Channel.DHCP, hostname, out, idn=True)

    # -------------------------------------------------------------------- tcp

    def _tcp_segment(self, ts: float, pkt: Packet, out: list[Observation]) -> None:
        payload = pkt.payload
        flags = pkt.tcp_flags
        if not payload and not flags & _SYN_RST:
            return  # pure ACKs and FINs: nothing to reassemble
        res = self._stream(ts, _flow_key(pkt), pkt.tcp_seq, flags, payload, pkt.dport)
        if res is not None:
            src = pkt.src_ip
            assert src is not None
            self._emit(ts, self._client_mac(src, pkt.src_mac), src, res[0], res[1], out)

    def _stream(
        self, ts: float, key: FlowKey, seq: int, flags: int, payload: bytes, dport: int
    ) -> tuple[Channel, str] | None:
        """One client segment into reassembly; the (channel, raw name) it completes."""
        if flags & TCP_SYN and flags & TCP_ACK and not flags & TCP_RST:
            return None  # a server's SYN-ACK: its stream is not one we parse
        tcp_dns = dport in self._dns_ports
        may_start = False
        if not flags & _SYN_RST and key not in self._flows:
            # Only the reassembler's "no flow yet, no SYN" case asks whether data may start
            # a stream; everything else it would discard here is mid-stream noise.
            may_start = bool(payload) and (
                tcp_dns or looks_like_client_hello(payload) or looks_like_http(payload)
            )
            if not may_start:
                return None
        prefix = self._tcp.segment(ts, key, seq, flags, payload, may_start)
        if prefix is None:
            return None
        c = self.counters
        if tcp_dns:
            if len(prefix) < 2 or len(prefix) < 2 + _u16(prefix, 0)[0]:
                if self._tcp.is_full(len(prefix)):
                    self._tcp.finish(key)
                return None
            self._tcp.finish(key)
            q = dnswire.parse_query(prefix[2 : 2 + _u16(prefix, 0)[0]])
            c.dns_queries += 1
            return Channel.DNS, q.name
        if prefix[0] == 0x16:
            res = sni_from_stream(prefix)
            if res is NEED_MORE:
                if self._tcp.is_full(len(prefix)):
                    c.tls_gave_up += 1
                    self._tcp.finish(key)
                return None
            self._tcp.finish(key)
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
            if self._tcp.is_full(len(prefix)):
                self._tcp.finish(key)
            return None
        self._tcp.finish(key)
        if isinstance(hres, str):
            c.http_host += 1
            return Channel.HTTP, hres
        if hres is HttpStatus.NO_HOST:
            c.http_errors += 1
        else:
            c.ignored += 1  # some other protocol on a SYN-tracked flow
        return None

    # ------------------------------------------------------------ observations

    def _name(self, raw: str, idn: bool = False) -> str | None:
        """Normalised name or None. Wire names must be ASCII (IDNs travel as A-labels);
        DHCP hostnames may be UTF-8 and are converted like names typed by IT."""
        name = fast_normalise(raw)
        if (
            name is not None
            and len(name) <= 253
            and _WIRE_NAME.fullmatch(name) is not None
            and not name.rpartition(".")[2].isdigit()
        ):
            return name
        if not idn and not raw.isascii():
            return None
        try:
            return normalise_domain(raw)
        except DomainError:
            return None

    def _emit(
        self,
        ts: float,
        mac: str | None,
        ip: str | None,
        channel: Channel,
        raw: str,
        out: list[Observation],
        idn: bool = False,
    ) -> None:
        if idn:
            name = self._name(raw, True) or ""
        else:
            names = self._names
            cached = names.get(raw)
            if cached is None:
                cached = self._name(raw) or ""
                if len(names) >= _CACHE_LIMIT:
                    names.clear()
                names[raw] = cached
            name = cached
        if not name:
            self.counters.invalid_names += 1
            return
        self._record(ts, mac, ip, channel, name, out)

    def _record(
        self,
        ts: float,
        mac: str | None,
        ip: str | None,
        channel: Channel,
        name: str,
        out: list[Observation],
    ) -> None:
        """Deduplicate and deliver an observation of an already normalised name."""
        c = self.counters
        if (
            self._networks
            and ip is not None
            and channel is not Channel.DHCP
            and not self._is_chamber(ip)
        ):
            c.outside_chamber += 1
            return
        if self._window <= 0:
            self._next_attempt += 1
            c.observations += 1
            out.append(
                CaptureObservation(
                    ts, mac, ip, channel, name, _ONE_CHANNEL[channel], self._next_attempt
                )
            )
            return
        who = mac or ip or ""
        key = ("dhcp", who, name) if channel is Channel.DHCP else (who, name)
        attempts = self._attempts
        self._expire_attempts(ts)
        att = attempts.get(key)
        if att is not None:
            if channel in att.channels:
                c.duplicates += 1
                return
            att.channels.add(channel)
            c.merged += 1
            if self.config.report_merges:
                first = att.obs
                out.append(
                    CaptureObservation(
                        first.ts,
                        first.mac,
                        first.ip,
                        first.channel,
                        first.domain,
                        frozenset(att.channels),
                        first.attempt,
                        merged=True,
                    )
                )
            return
        self._next_attempt += 1
        obs = CaptureObservation(
            ts, mac, ip, channel, name, _ONE_CHANNEL[channel], self._next_attempt
        )
        attempts[key] = _Attempt(obs)
        if len(attempts) > self.config.dedup_size:
            attempts.popitem(last=False)
        c.observations += 1
        out.append(obs)

    def _expire_attempts(self, now: float) -> None:
        attempts = self._attempts
        if not attempts:
            return
        limit = now - self._window
        while attempts:
            att = next(iter(attempts.values()))
            if att.obs.ts >= limit:
                break
            attempts.popitem(last=False)
