"""The kernel capture filter passes name-bearing frames and drops the rest.

Here the compiled program runs in libpcap's own BPF interpreter (``bpf_filter``, the same
classic-BPF semantics the kernel applies, out-of-bounds loads included); the same cases
go through a real kernel in tests/netns/test_capture_filter.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Callable
from functools import cache

import pytest
from scapy.layers.inet import IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from monitor.capture.bpf_filter import DEFAULT_FILTER
from monitor.capture.frames import DLT_EN10MB, IPPROTO_TCP, IPPROTO_UDP, TCP_SYN, decode
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.capture.quic import QUIC_V2
from monitor.capture.socket import BpfProgram, compile_bpf
from tests.bench.bench_capture import generate
from tests.capture.pcaps import craft, tlsbuild

C, S = craft.CLIENT_IP, craft.SERVER_IP
C6, S6 = craft.CLIENT6, craft.SERVER6


def _l3(src: str, dst: str, ip_options: bool = False) -> object:
    if ":" in src:
        return IPv6(src=src, dst=dst)
    opts = [IPOption_RR(routers=["198.51.100.1"])] if ip_options else []
    return IP(src=src, dst=dst, options=opts)


def tcp(
    payload: bytes,
    *,
    src: str = C,
    dst: str = S,
    sport: int = 50000,
    dport: int = 443,
    flags: str = "PA",
    tcp_options: bool = False,
    ip_options: bool = False,
) -> bytes:
    """One TCP segment; ``tcp_options`` adds MSS, SACK-permitted and timestamps (data
    offset 10 words), ``ip_options`` a record-route option (IPv4 header of 32 bytes)."""
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2))] if tcp_options else []
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=1001, ack=1, options=opts)
    pkt = craft.ether() / _l3(src, dst, ip_options) / seg  # type: ignore[operator]
    return craft.frame(pkt / Raw(payload) if payload else pkt)


def udp(payload: bytes, *, src: str = C, dst: str = S, sport: int = 50000, dport: int = 443,
        ip_options: bool = False) -> bytes:  # fmt: skip
    pkt = craft.ether() / _l3(src, dst, ip_options) / UDP(sport=sport, dport=dport)  # type: ignore[operator]
    return craft.frame(pkt / Raw(payload))


HELLO = tlsbuild.records(tlsbuild.client_hello("hello.example", pq_key_share=True, sni_last=True))
HEAD, TAIL = HELLO[:1400], HELLO[1400:]
APP_DATA = b"\x17\x03\x03\x00\x40" + bytes(range(64))
REQUEST = b"GET / HTTP/1.1\r\nHost: plain.example\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
INITIAL = craft.quic_initials("quic.example")[0]  # the first of two, 1200 bytes
INITIAL_V2 = craft.quic_initials("quic2.example", version=QUIC_V2)[0]
SHORT_HEADER = bytes([0x43]) + bytes(8) + bytes(range(256)) * 5  # 1-RTT, 1289 bytes
ZERO_RTT = bytes([0xD0]) + struct.pack("!I", 1) + INITIAL[5:]  # v1 long header, type 1


def cases() -> list[tuple[str, bytes, bool]]:
    """(what, frame, passes the filter)."""
    return [
        ("dns query", craft.dns_query("q.example"), True),
        ("dns query v6", craft.dns_query("q6.example", src=C6, dst="2001:db8:203::53"), True),
        ("dns response", craft.dns_response("r.example"), True),
        ("dns over tcp", tcp(b"\x00\x1d" + bytes(29), dport=53), True),
        ("dhcp request", craft.dhcp_request(), True),
        ("dhcp ack", craft.dhcp_ack(craft.CLIENT_MAC, C), True),
        ("arp", craft.arp_reply(), True),
        ("neighbour solicitation", craft.ndp_ns(), True),
        ("neighbour advertisement", craft.ndp_na(), True),
        ("client hello", tcp(HEAD), True),
        ("client hello, ip options", tcp(HEAD, ip_options=True), True),
        ("client hello, tcp options", tcp(HEAD, tcp_options=True), True),
        ("client hello, both options", tcp(HEAD, ip_options=True, tcp_options=True), True),
        ("client hello v6", tcp(HEAD, src=C6, dst=S6), True),
        ("client hello v6, tcp options", tcp(HEAD, src=C6, dst=S6, tcp_options=True), True),
        ("client hello on 8443", tcp(HEAD, dport=8443), True),
        ("client hello's second segment", tcp(TAIL), True),
        ("client hello's second segment v6", tcp(TAIL, src=C6, dst=S6), True),
        ("client syn", tcp(b"", flags="S", tcp_options=True), True),
        ("client syn v6", tcp(b"", src=C6, dst=S6, flags="S"), True),
        ("quic v1 initial", udp(INITIAL), True),
        ("quic v2 initial", udp(INITIAL_V2), True),
        ("quic v1 initial v6", udp(INITIAL, src=C6, dst=S6), True),
        ("quic initial, ip options", udp(INITIAL, ip_options=True), True),
        ("http request", tcp(REQUEST, dport=80), True),
        ("http request, tcp options", tcp(REQUEST, dport=80, tcp_options=True), True),
        ("http request v6", tcp(REQUEST, src=C6, dst=S6, dport=80), True),
        ("http request on 8080", tcp(b"POST /x HTTP/1.1\r\n", dport=8080), True),
        # dropped in the kernel
        ("tls application data", tcp(APP_DATA), False),
        ("tls application data, options", tcp(APP_DATA, ip_options=True, tcp_options=True),
         False),  # fmt: skip
        ("tls application data v6", tcp(APP_DATA, src=C6, dst=S6, tcp_options=True), False),
        ("tls alert", tcp(b"\x15\x03\x03\x00\x02\x01\x00"), False),
        ("tls change cipher spec", tcp(b"\x14\x03\x03\x00\x01\x01"), False),
        ("tls client key exchange", tcp(b"\x16\x03\x03\x00\x46\x10" + bytes(70)), False),
        ("client pure ack", tcp(b"", flags="A", tcp_options=True), False),
        ("client fin", tcp(b"", flags="FA"), False),
        ("server hello", tcp(b"\x16\x03\x03\x00\x5a\x02" + bytes(90), src=S, dst=C,
                             sport=443, dport=50000), False),  # fmt: skip
        ("server syn-ack", tcp(b"", src=S, dst=C, sport=443, dport=50000, flags="SA"), False),
        ("server tls data", tcp(APP_DATA, src=S6, dst=C6, sport=443, dport=50000), False),
        ("quic short header", udp(SHORT_HEADER), False),
        ("quic short header v6", udp(SHORT_HEADER, src=C6, dst=S6), False),
        ("quic 0-rtt", udp(ZERO_RTT), False),
        ("quic initial under 1200 bytes", udp(INITIAL[:1100]), False),
        ("quic from the server", udp(INITIAL, src=S, dst=C, sport=443, dport=50000), False),
        ("http response", tcp(RESPONSE, src=S, dst=C, sport=80, dport=50000), False),
        ("http response v6", tcp(RESPONSE, src=S6, dst=C6, sport=80, dport=50000), False),
        ("http request body", tcp(b"name=value&more=data", dport=80), False),
        ("ntp", udp(bytes(48), dport=123), False),
        ("ssh", tcp(b"SSH-2.0-OpenSSH_9.2\r\n", dport=22), False),
    ]


@cache
def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap")
    if name is None:
        pytest.skip("libpcap is not installed (deploy/bootstrap.sh installs libpcap0.8)")
    lib = ctypes.CDLL(name)
    lib.bpf_filter.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    lib.bpf_filter.restype = ctypes.c_uint
    return lib


def matcher(prog: BpfProgram) -> Callable[[bytes], bool]:
    """``frame -> passes`` with libpcap's interpreter running ``prog``."""
    insns = b"".join(struct.pack("=HBBI", c, jt, jf, k) for c, jt, jf, k in prog)
    run = _libpcap().bpf_filter
    return lambda f: run(insns, f, len(f), len(f)) != 0


@pytest.fixture(scope="module")
def passes() -> Callable[[bytes], bool]:
    return matcher(compile_bpf(DEFAULT_FILTER))


@pytest.mark.parametrize(("what", "frame", "expected"), cases(), ids=[c[0] for c in cases()])
def test_filter_passes_only_name_bearing_frames(
    passes: Callable[[bytes], bool], what: str, frame: bytes, expected: bool
) -> None:
    assert passes(frame) is expected


def test_the_interpreter_runs_the_program() -> None:
    """The harness itself: a program that passes nothing passes nothing."""
    never = matcher(compile_bpf("udp port 1"))
    assert not any(never(f) for _, f, _ in cases())


def _seen(frames: list[tuple[float, bytes]]) -> set[tuple[str, str, str | None, str | None]]:
    """(channel, name, device MAC, address) of every observation the pipeline makes."""
    pipe = PacketPipeline(PipelineConfig(dedup_window=0))
    return {(o.channel.value, o.domain, o.mac, o.ip) for ts, f in frames for o in pipe.feed(ts, f)}


def test_filtering_loses_no_name_and_drops_the_noise(passes: Callable[[bytes], bool]) -> None:
    """Bench traffic (DNS, ClientHellos split over two segments, QUIC Initials, TLS data,
    ACKs, other UDP, ARP): the pipeline behind the filter sees every name and binding it
    sees without it, attributed to the same device, from well under half the frames."""
    frames, truth = generate(20_000, seed=11)
    kept = [(ts, f) for ts, f in frames if passes(f)]
    seen = _seen(kept)
    assert seen == _seen(frames)
    assert {name for _, name, _, _ in seen} == truth
    noise = [f for _, f in frames if _is_noise(f)]
    assert len(noise) > 0.3 * len(frames)
    assert not [f for f in noise if passes(f)]


def _is_noise(frame: bytes) -> bool:
    """Server-side TCP, client ACKs, TLS application data, UDP that is neither DNS nor QUIC."""
    pkt = decode(frame, DLT_EN10MB)
    if pkt is None or pkt.proto not in (IPPROTO_TCP, IPPROTO_UDP):
        return False
    if pkt.proto == IPPROTO_UDP:
        return 53 not in (pkt.sport, pkt.dport) and pkt.dport != 443
    if pkt.sport == 443:
        return True
    return not pkt.tcp_flags & TCP_SYN and (not pkt.payload or pkt.payload[:2] == b"\x17\x03")
