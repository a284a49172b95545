"""Frames in, observations out: the passive monitor's whole logic, with no I/O.

:class:`PacketPipeline` is fed ``(timestamp, frame bytes)`` by the live socket
(:mod:`monitor.capture.socket`), by pcap replay (:mod:`monitor.capture.replay`) or by a test,
and returns :class:`~allowlist.observation.Observation` records for five channels:

- ``dns``: names in client queries, and in the question of responses sent to clients (so a
  one-directional mirror still sees the lookup);
- ``tls``: the SNI of a TCP ClientHello (reassembled when it spans segments);
- ``quic``: the SNI inside a QUIC v1/v2 client Initial;
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

**Never dies silently.** No exception escapes :meth:`PacketPipeline.feed`: parser errors are
counted per parser in :class:`PipelineCounters` and per reason in ``error_reasons``; anything
unexpected is counted as ``internal_errors`` and logged with its traceback (once per reason).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, fields

from allowlist.names import DomainError, fast_normalise, normalise_domain
from allowlist.observation import Channel, Observation
from monitor import dnswire
from monitor.capture import dhcp as dhcpmod
from monitor.capture.frames import (
    DLT_EN10MB,
    ETH_P_ARP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_RST,
    TCP_SYN,
    FrameError,
    Packet,
    decode,
    parse_arp,
    parse_ndp,
)
from monitor.capture.http import HttpStatus, host_from_request, looks_like_http
from monitor.capture.quic import QuicError, QuicSniTracker
from monitor.capture.reassembly import FlowKey, TcpReassembler
from monitor.capture.tls import NEED_MORE, NO_SNI, looks_like_client_hello, sni_from_stream

log = logging.getLogger(__name__)

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_WIRE_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_u16 = struct.Struct("!H").unpack_from


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


class PacketPipeline:
    """Sans-io core of the passive monitor. Not thread-safe: one feeder at a time."""

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
            max_conns=cfg.quic_max_conns, max_bytes=cfg.max_flow_bytes, timeout=cfg.quic_timeout
        )
        self._attempts: OrderedDict[tuple[str, ...], _Attempt] = OrderedDict()
        self._next_attempt = 0
        self._logged: set[str] = set()
        self._dns_ports = cfg.dns_ports
        self._quic_ports = cfg.quic_ports

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
        c = self.counters
        c.frames += 1
        out: list[Observation] = []
        try:
            pkt = decode(frame, self.config.linktype if linktype is None else linktype)
            if pkt is None:
                c.ignored += 1
                return out
            self._dispatch(ts, pkt, out)
        except FrameError as exc:
            c.frame_errors += 1
            self.error_reasons["frame:" + exc.reason] += 1
        except dnswire.DnsError as exc:
            c.dns_errors += 1
            self.error_reasons["dns:" + str(exc)] += 1
        except QuicError as exc:
            c.quic_errors += 1
            self.error_reasons["quic:" + exc.reason] += 1
        except dhcpmod.DhcpError as exc:
            c.dhcp_errors += 1
            self.error_reasons["dhcp:" + str(exc)] += 1
        except Exception as exc:  # noqa: BLE001 - the monitor must outlive any bug
            c.internal_errors += 1
            reason = f"internal:{type(exc).__name__}"
            self.error_reasons[reason] += 1
            if reason not in self._logged and len(self._logged) < 64:
                self._logged.add(reason)
                log.exception("capture pipeline bug (further %s are only counted)", reason)
        return out

    def expire(self, now: float) -> None:
        """Drop idle state; ``feed`` does this itself, a live loop may call it when quiet."""
        self._tcp.expire(now)
        self._quic.expire(now)
        self._expire_attempts(now)

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
        elif dport in self._quic_ports and pkt.payload and pkt.payload[0] & 0x80:
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
        if not payload and not flags & (TCP_SYN | TCP_RST):
            return  # pure ACKs and FINs: nothing to reassemble
        src = pkt.src_ip
        dst = pkt.dst_ip
        assert src is not None and dst is not None
        key: FlowKey = (src, pkt.sport, dst, pkt.dport)
        tcp_dns = pkt.dport in self._dns_ports
        may_start = bool(payload) and (
            tcp_dns or looks_like_client_hello(payload) or looks_like_http(payload)
        )
        prefix = self._tcp.segment(ts, key, pkt.tcp_seq, flags, payload, may_start)
        if prefix is None:
            return
        c = self.counters
        first = prefix[0]
        if tcp_dns:
            if len(prefix) < 2 or len(prefix) < 2 + _u16(prefix, 0)[0]:
                if self._tcp.is_full(len(prefix)):
                    self._tcp.finish(key)
                return
            self._tcp.finish(key)
            self._dns_query(ts, pkt, prefix[2 : 2 + _u16(prefix, 0)[0]], out)
        elif first == 0x16:
            res = sni_from_stream(prefix)
            if res is NEED_MORE:
                if self._tcp.is_full(len(prefix)):
                    c.tls_gave_up += 1
                    self._tcp.finish(key)
                return
            self._tcp.finish(key)
            if isinstance(res, str):
                c.tls_sni += 1
                self._emit(ts, self._client_mac(src, pkt.src_mac), src, Channel.TLS, res, out)
            elif res is NO_SNI:
                c.tls_no_sni += 1
            else:
                c.tls_errors += 1
        else:
            hres = host_from_request(prefix)
            if hres is HttpStatus.NEED_MORE:
                if self._tcp.is_full(len(prefix)):
                    self._tcp.finish(key)
                return
            self._tcp.finish(key)
            if isinstance(hres, str):
                c.http_host += 1
                self._emit(ts, self._client_mac(src, pkt.src_mac), src, Channel.HTTP, hres, out)
            elif hres is HttpStatus.NO_HOST:
                c.http_errors += 1
            else:
                c.ignored += 1  # some other protocol on a SYN-tracked flow

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
        c = self.counters
        name = self._name(raw, idn)
        if name is None:
            c.invalid_names += 1
            return
        if (
            self._networks
            and ip is not None
            and channel is not Channel.DHCP
            and not self._is_chamber(ip)
        ):
            c.outside_chamber += 1
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
                        channels=frozenset(att.channels),
                        attempt=first.attempt,
                        merged=True,
                    )
                )
            return
        self._next_attempt += 1
        obs = CaptureObservation(
            ts, mac, ip, channel, name, channels=frozenset((channel,)), attempt=self._next_attempt
        )
        if self.config.dedup_window > 0:
            attempts[key] = _Attempt(obs)
            if len(attempts) > self.config.dedup_size:
                attempts.popitem(last=False)
        c.observations += 1
        out.append(obs)

    def _expire_attempts(self, now: float) -> None:
        attempts = self._attempts
        limit = now - self.config.dedup_window
        while attempts:
            att = next(iter(attempts.values()))
            if att.obs.ts >= limit:
                break
            attempts.popitem(last=False)
