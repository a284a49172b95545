"""The kernel's capture filter: only frames that can carry a name reach user space.

A chamber's traffic is mostly downloads, their ACKs and encrypted data; none of it names a
site. The filter, compiled by libpcap and run by the kernel on every frame
(:mod:`monitor.capture.socket`), passes only:

- DNS over UDP either way (a response repeats the question) and DNS queries over TCP;
- DHCP (hostnames, and the address book's strongest bindings), ARP and IPv6 neighbour
  solicitations/advertisements (the address book);
- QUIC client Initials: UDP to port 443, at least 1200 bytes (clients must pad them),
  long header of the Initial type for v1 or v2 — exactly what
  :func:`~monitor.capture.quic.looks_like_client_initial` accepts; short-header (1-RTT)
  packets, 0-RTT, Handshake and the server's side stay in the kernel;
- client TCP segments to a web port that start a ClientHello (record type 22, version
  3.x, handshake type 1) or an HTTP request line (a known method);
- on the TLS ports also the client's SYN and any client segment that does not start with a
  TLS record header: a post-quantum ClientHello (~1.8 KB) spans two segments and the
  second, where the SNI often lies (browsers shuffle extensions), starts mid-message. No
  stateless filter can tell it from the middle of a large upload record, so those pass
  too and the pipeline discards them; the SYN lets reassembly place a second segment that
  overtakes the first. Records after the handshake (application data 23, alerts 21,
  ChangeCipherSpec 20, later handshake messages) start with a record header and are dropped.

IPv4 offsets come from libpcap's ``tcp[]``/``udp[]``, which follow the IP header length and
match only unfragmented packets or first fragments; the TCP payload starts after the data
offset (``tcp[12]``), so TCP options are skipped. libpcap has no ``tcp[]`` for IPv6, so
there offsets count from the fixed 40-byte header and only packets whose next header is
TCP/UDP itself (no extension headers) match — the shape the pipeline's lean path reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.capture.http import METHODS
from monitor.capture.quic import QUIC_V1, QUIC_V2

DNS_PORT = 53
QUIC_PORT = 443
TLS_PORTS = (443, 8443)
WEB_PORTS = (80, 443, 8080, 8443)
MIN_INITIAL_UDP_LENGTH = 8 + 1200  # UDP header + the smallest client Initial datagram


@dataclass(frozen=True, slots=True)
class _Family:
    """How to reach a transport header's bytes for one IP version in pcap syntax."""

    guard: str  # the family, with the transport protocol right after the IP header
    index: str  # pcap accessor of transport-header bytes; {} is "offset[:size]"
    ip_payload: str = ""  # length of the IP payload (transport header + data), for TCP

    def at(self, offset: str, size: int = 1) -> str:
        """The ``size``-byte big-endian value at ``offset`` into the transport header."""
        return self.index.format(offset if size == 1 else f"{offset}:{size}")


_TCP4 = _Family("(ip and tcp)", "tcp[{}]", "(ip[2:2] - ((ip[0] & 0xf) << 2))")
_TCP6 = _Family("(ip6 and ip6[6] == 6)", "ip6[40 + {}]", "ip6[4:2]")
_UDP4 = _Family("(ip and udp)", "udp[{}]")
_UDP6 = _Family("(ip6 and ip6[6] == 17)", "ip6[40 + {}]")


def _any_of(terms: list[str]) -> str:
    return "(" + " or ".join(terms) + ")"


def _client_tcp(f: _Family) -> str:
    """Name-bearing client segments to the web ports, for one IP version."""
    doff = f"(({f.at('12')} & 0xf0) >> 2)"
    size = f"({f.ip_payload} - {doff})"

    def data(k: int, width: int = 1) -> str:
        return f.at(f"{doff} + {k}", width)

    hello = f"({size} >= 6 and {data(0)} == 0x16 and {data(1)} == 3 and {data(5)} == 1)"
    words = sorted({int.from_bytes((m + b" ")[:4], "big") for m in METHODS})
    request = f"({size} >= 4 and " + _any_of([f"{data(0, 4)} == {w:#x}" for w in words]) + ")"
    syn = f"({f.at('13')} & 0x12 == 0x02)"  # SYN without ACK: a client opening
    record = f"({size} >= 2 and {data(1)} == 3 and {data(0)} >= 0x14 and {data(0)} <= 0x17)"
    continuation = f"({size} > 0 and not {record})"
    dport = f.at("2", 2)
    web = _any_of([f"{dport} == {p}" for p in WEB_PORTS])
    tls = _any_of([f"{dport} == {p}" for p in TLS_PORTS])
    return (
        f"({f.guard} and {web} and ({hello} or {request}"
        f" or ({tls} and ({syn} or {continuation}))))"
    )


def _quic_initial(f: _Family) -> str:
    """Client Initials to the QUIC port (long header, Initial type, v1 or v2)."""
    first, version = f.at("8"), f.at("9", 4)
    v1 = f"({first} & 0xb0 == 0x80 and {version} == {QUIC_V1:#x})"  # v1 Initial: type 0
    v2 = f"({first} & 0xb0 == 0x90 and {version} == {QUIC_V2:#x})"  # v2 Initial: type 1
    return (
        f"({f.guard} and {f.at('2', 2)} == {QUIC_PORT}"
        f" and {f.at('4', 2)} >= {MIN_INITIAL_UDP_LENGTH} and ({v1} or {v2}))"
    )


def default_filter() -> str:
    """The capture filter expression (pcap syntax) described in the module docstring."""
    return " or ".join(
        [
            "arp",
            "(icmp6 and (ip6[40] == 135 or ip6[40] == 136))",  # neighbour solicit./advert.
            f"(udp and (port {DNS_PORT} or port 67 or port 68))",
            f"(tcp and dst port {DNS_PORT})",
            _quic_initial(_UDP4),
            _quic_initial(_UDP6),
            _client_tcp(_TCP4),
            _client_tcp(_TCP6),
        ]
    )


DEFAULT_FILTER = default_filter()
