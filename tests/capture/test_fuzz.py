"""Fuzzing: 100k random and mutated frames through every parser and PacketPipeline.feed.

Mutations of valid frames (truncation, bit flips, length-field corruption, insertions,
deletions, splices) reach deep into the parsers where purely random bytes would not; QUIC
payloads are also mutated *before* encryption so the frame and ClientHello parsers see
garbage that decrypts. A parser may only raise its own declared error; the pipeline may
raise nothing and must not count a single internal (unexpected) error.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import dnswire
from monitor.capture import dhcp, frames, http, quic, tls
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from tests.capture.pcaps import craft, quicbuild, tlsbuild

N_MUTATIONS = int(os.environ.get("CAPTURE_FUZZ_N", "100000"))


def corpus() -> list[bytes]:
    out = [
        craft.dns_query("www.instagram.com"),
        craft.dns_query(
            "a.very.long.name.example.co.uk", "HTTPS", src=craft.CLIENT6, dst="2001:db8:203::53"
        ),
        craft.dns_response("www.tiktok.com"),
        craft.udp(craft.dns_wire_with_pointers("m.facebook.com"), 40000, 53),
        craft.vlan_dns_query("vlan.example"),
        craft.ipv6_ext_dns_query("v6.example"),
        craft.ipv4_options_dns_query("opts.example"),
        craft.dhcp_request("Cllr-Smith-iPad"),
        craft.dhcp_ack(craft.OTHER_MAC, "198.51.100.77"),
        craft.arp_reply(),
        craft.ndp_ns(),
        craft.ndp_na(),
        *craft.http_request("captive.apple.com"),
        *craft.tls_hello_stream("www.linkedin.com"),
        *craft.tls_hello_stream(
            "www.reddit.com", cuts=[300, 900], src=craft.CLIENT6, dst=craft.SERVER6
        ),
    ]
    for version in (quic.QUIC_V1, quic.QUIC_V2):
        out += [craft.udp(d, 51000, 443) for d in craft.quic_initials("bsky.app", version=version)]
    return out


LENGTH_VALUES = [0, 1, 2, 3, 4, 5, 8, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF, 0x4000, 0x7FFF, 0xFFFF]


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    kind = rng.randrange(8)
    b = bytearray(data)
    if kind == 0 and b:  # truncation
        return bytes(b[: rng.randrange(len(b))])
    if kind == 1 and b:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind in (2, 3) and len(b) > 2:  # length-field corruption (1 or 2 bytes)
        i = rng.randrange(len(b) - 1)
        v = rng.choice(LENGTH_VALUES + [len(b), len(b) - 1, len(b) + 1, rng.randrange(65536)])
        if kind == 2:
            b[i : i + 2] = (v & 0xFFFF).to_bytes(2, "big")
        else:
            b[i] = v & 0xFF
        return bytes(b)
    if kind == 4:  # insertion
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 16))
        return bytes(b)
    if kind == 5 and b:  # deletion
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 16)]
        return bytes(b)
    if kind == 6:  # splice two frames
        other = rng.choice(pool)
        return bytes(b[: rng.randrange(len(b) + 1)] + other[rng.randrange(len(other) + 1) :])
    # random bytes, half of them behind a valid Ethernet+IP header prefix
    tail = rng.randbytes(rng.randrange(0, 200))
    return bytes(b[: rng.choice([0, 14, 34, 42, 54])]) + tail


def quic_plaintext_mutants(rng: random.Random, n: int) -> list[bytes]:
    """Valid protection around mutated plaintext: exercises CRYPTO/ACK/TLS parsing."""
    hello = tlsbuild.client_hello("mutant.example", pq_key_share=True)
    out = []
    for i in range(n):
        half = len(hello) // 2
        plain = (
            b"\x01"
            + quicbuild.crypto_frame(half, hello[half:])
            + b"\x02\x05\x00\x01\x00\x01\x02"
            + quicbuild.crypto_frame(0, hello[:half])
        )
        plain = mutate(rng, plain, [plain])[:1100]
        version = quic.QUIC_V1 if i % 2 else quic.QUIC_V2
        dgram = quicbuild.protect_initial(plain, rng.randbytes(8), version=version, pn=i % 4)
        out.append(craft.udp(dgram, 51000, 443))
    return out


Parser = Callable[[bytes], object]


def _allowed(fn: Parser, data: bytes, *errors: type[Exception]) -> None:
    try:
        fn(data)
    except errors:
        pass


def every_parser(frame: bytes, tracker: quic.QuicSniTracker) -> None:
    """Each parser on the frame and on its transport payload; only declared errors allowed."""
    try:
        pkt = frames.decode(frame)
    except frames.FrameError:
        pkt = None
    for data in (frame, pkt.payload if pkt is not None else b""):
        tls.sni_from_stream(data)
        tls.sni_from_handshake(data)
        http.host_from_request(data)
        _allowed(dhcp.parse_dhcp, data, dhcp.DhcpError)
        _allowed(dnswire.parse_message, data, dnswire.DnsError)
        _allowed(dnswire.parse_query, data, dnswire.DnsError)
        _allowed(quic.crypto_frames, data, quic.QuicError)
        _allowed(lambda d: tracker.datagram(0.0, d), data, quic.QuicError)
    if pkt is not None:
        _allowed(frames.parse_arp, pkt, frames.FrameError)  # type: ignore[arg-type]
        _allowed(frames.parse_ndp, pkt, frames.FrameError)  # type: ignore[arg-type]


SMALL = PipelineConfig(
    max_flows=32,
    max_flow_bytes=4096,
    max_flow_total_bytes=64_000,
    quic_max_conns=16,
    address_book_size=128,
    dedup_size=256,
    report_merges=True,
)


def check_bounds(pipe: PacketPipeline) -> None:
    assert len(pipe.tcp) <= SMALL.max_flows
    assert pipe.tcp.buffered_bytes <= SMALL.max_flow_total_bytes
    assert len(pipe.quic) <= SMALL.quic_max_conns
    assert len(pipe.address_book) <= SMALL.address_book_size
    assert pipe._book.strong <= pipe._book.entries.keys()
    assert len(pipe._attempts) <= SMALL.dedup_size


def test_100k_mutated_and_random_frames() -> None:
    rng = random.Random(0xC0FFEE)
    pool = corpus()
    pipe = PacketPipeline(SMALL)
    tracker = quic.QuicSniTracker(max_conns=16)
    cases = quic_plaintext_mutants(rng, 2000)
    started = time.monotonic()
    ts = 0.0
    for i in range(N_MUTATIONS):
        if i < len(cases):
            frame = cases[i]
        else:
            frame = mutate(rng, rng.choice(pool), pool)
            if rng.random() < 0.3:  # stacked mutations
                frame = mutate(rng, frame, pool)
        ts += 0.0005
        every_parser(frame, tracker)
        pipe.feed(ts, frame)
        if i % 997 == 0:
            check_bounds(pipe)
            pipe.feed(ts, rng.choice(pool))  # valid traffic keeps flowing through
    check_bounds(pipe)
    c = pipe.counters
    assert c.frames >= N_MUTATIONS
    assert c.internal_errors == 0, pipe.error_reasons
    # the mutations did reach the parsers, not just the Ethernet check
    assert c.frame_errors and c.dns_errors and c.quic_errors and c.invalid_names
    assert c.observations > 0
    assert time.monotonic() - started < 120


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    idx=st.integers(0, 200),
    edits=st.lists(st.tuples(st.integers(0, 1600), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1600),
)
def test_hypothesis_byte_edits_through_pipeline(
    idx: int, edits: list[tuple[int, int]], cut: int
) -> None:
    pool = _POOL
    b = bytearray(pool[idx % len(pool)])
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    frame = bytes(b[: max(cut, 14)])
    pipe = PacketPipeline()
    for f in (frame, *pool[:3]):
        pipe.feed(1.0, f)
    assert pipe.counters.internal_errors == 0, pipe.error_reasons


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1600))
def test_hypothesis_random_frames(data: bytes) -> None:
    pipe = PacketPipeline()
    pipe.feed(0.0, data)
    pipe.feed(0.0, data, frames.DLT_RAW)
    pipe.feed(0.0, data, frames.DLT_LINUX_SLL2)
    assert pipe.counters.internal_errors == 0, pipe.error_reasons
    every_parser(data, quic.QuicSniTracker())


_POOL = corpus()


@pytest.mark.parametrize("linktype", [frames.DLT_RAW, frames.DLT_LINUX_SLL, 999])
def test_other_link_types_on_garbage(linktype: int) -> None:
    rng = random.Random(linktype)
    pipe = PacketPipeline(PipelineConfig(linktype=linktype))
    for _ in range(2000):
        pipe.feed(0.0, rng.randbytes(rng.randrange(80)))
    assert pipe.counters.internal_errors == 0
