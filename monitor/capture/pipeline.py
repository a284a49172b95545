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

This module composes parts with one job each:

- :mod:`~monitor.capture.lean`: common, well-formed Ethernet frames, read by byte indexing;
- :mod:`~monitor.capture.general`: every other frame, decoded by :mod:`frames` and
  dispatched (both paths give the same results: a differential test checks it);
- :mod:`~monitor.capture.streams`: TCP segments → the DNS/TLS/HTTP name a stream carries;
- :mod:`~monitor.capture.addresses`: the address book (IP → MAC) and the chamber test;
- :mod:`~monitor.capture.names`: raw names → normalised host names (cached);
- :mod:`~monitor.capture.attempts`: one attempt, one observation (deduplication, merges).

In front of them the kernel's BPF filter (:mod:`monitor.capture.bpf_filter`) already drops
almost every frame that cannot carry a name.

**Never dies silently.** No exception escapes :meth:`PacketPipeline.feed`: parser errors are
counted per parser in :class:`PipelineCounters` and per reason in ``error_reasons``; anything
unexpected is counted as ``internal_errors`` and logged with its traceback (once per reason).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, fields

from allowlist.observation import Channel, Observation
from monitor import dnswire
from monitor.capture import dhcp as dhcpmod
from monitor.capture.addresses import Addresses
from monitor.capture.attempts import Attempts, CaptureObservation
from monitor.capture.counters import PipelineCounters
from monitor.capture.frames import DLT_EN10MB, FrameError
from monitor.capture.general import GeneralPath
from monitor.capture.lean import LeanPath
from monitor.capture.names import Names
from monitor.capture.quic import QuicError, QuicSniTracker
from monitor.capture.reassembly import TcpReassembler
from monitor.capture.streams import Streams

__all__ = ["CaptureObservation", "PacketPipeline", "PipelineConfig", "PipelineCounters"]

log = logging.getLogger(__name__)


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



class PacketPipeline:
    """Sans-io core of the passive monitor. Not thread-safe: one feeder at a time."""

    #: Tests turn the lean path off to check both paths agree; nothing else should.
    use_fast_path = True

    def __init__(self, config: PipelineConfig | None = None) -> None:
        cfg = config or PipelineConfig()
        self.config = cfg
        self.counters = c = PipelineCounters()
        self.error_reasons: Counter[str] = Counter()
        self._logged: set[str] = set()
        self._addresses = Addresses(cfg.chamber_networks, cfg.address_book_size,
                                    self._neighbour_changed)
        self._book = self._addresses.book
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
        self._names = Names(c)
        self._attempts = Attempts(c, window=cfg.dedup_window, size=cfg.dedup_size,
                                  report_merges=cfg.report_merges,
                                  restricted=bool(cfg.chamber_networks),
                                  is_chamber=self._addresses.is_chamber)
        streams = Streams(self._tcp, c, cfg.dns_ports)
        ports = {"dns_ports": cfg.dns_ports, "quic_ports": cfg.quic_ports}
        self._lean = LeanPath(c, self._addresses, self._names, self._attempts, streams,
                              self._quic, self._emit, **ports)
        self._general = GeneralPath(c, self.error_reasons, self._addresses, streams,
                                    self._quic, self._emit, **ports)

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

        The list holds :class:`CaptureObservation` instances (see
        :mod:`monitor.capture.attempts` for the deduplication contract). ``linktype``
        overrides the configured one for this frame (pcapng files carry one per interface).
        Never raises.
        """
        self.counters.frames += 1
        out: list[Observation] = []
        if linktype is None:
            linktype = self.config.linktype
        try:
            if linktype == DLT_EN10MB and self.use_fast_path and self._lean(ts, frame, out):
                return out
            self._general(ts, frame, linktype, out)
        except Exception as exc:  # noqa: BLE001 - the monitor must outlive any bug
            self._fault(exc)
        return out

    def expire(self, now: float) -> None:
        """Drop idle state; ``feed`` does this itself, a live loop may call it when quiet."""
        self._tcp.expire(now)
        self._quic.expire(now)
        self._attempts.expire(now)

    # ---------------------------------------------------------------- private

    def _neighbour_changed(self) -> None:
        self.counters.neighbours += 1

    def _emit(self, ts: float, mac: str | None, ip: str | None, channel: Channel, raw: str,
              out: list[Observation], idn: bool = False) -> None:
        name = self._names.clean(raw, idn)
        if name:
            self._attempts.record(ts, mac, ip, channel, name, out)

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
