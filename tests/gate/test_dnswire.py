"""The DNS codec on hostile input: clear errors (DnsError), never another exception."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from monitor import dnswire


def scapy_answer(name: str, *addrs: str, cname: str | None = None, ttl: int = 300) -> bytes:
    rrs = []
    owner = name
    if cname:
        rrs.append(DNSRR(rrname=name, type="CNAME", rdata=cname, ttl=ttl))
        owner = cname
    for a in addrs:
        rrs.append(DNSRR(rrname=owner, type="AAAA" if ":" in a else "A", rdata=a, ttl=ttl))
    an = rrs[0] if rrs else None
    for rr in rrs[1:]:
        an = an / rr  # type: ignore[operator]
    return bytes(DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=an, ancount=len(rrs)))


def test_query_round_trip_and_case() -> None:
    q = dnswire.make_query("WWW.Example.COM", dnswire.TYPE_AAAA, qid=0x1234)
    p = dnswire.parse_query(q)
    assert (p.qid, p.name, p.qtype, p.qclass) == (0x1234, "www.example.com", 28, 1)


def test_answer_with_compression_and_cname_chain() -> None:
    raw = scapy_answer(
        "assets.example.gov.uk", "203.0.113.11", "2001:db8:e::11", cname="d1.cdn.example.net"
    )
    msg = dnswire.parse_message(raw)
    assert msg.is_response and msg.rcode == 0
    assert [r.target for r in msg.answers if r.target] == ["d1.cdn.example.net"]
    assert [r.address for r in msg.answers if r.address] == ["203.0.113.11", "2001:db8:e::11"]


def test_clamp_rewrites_only_long_ttls() -> None:
    raw = scapy_answer("a.example", "203.0.113.1", ttl=3600)
    msg = dnswire.parse_message(raw)
    clamped = dnswire.parse_message(dnswire.clamp_ttls(raw, msg.answers, 60))
    assert [r.ttl for r in clamped.answers] == [60]
    short = scapy_answer("a.example", "203.0.113.1", ttl=30)
    assert dnswire.clamp_ttls(short, dnswire.parse_message(short).answers, 60) == short


def test_nxdomain_copies_id_question_and_rd() -> None:
    q = dnswire.make_query("www.facebook.com", qid=99)
    p = dnswire.parse_query(q)
    r = dnswire.parse_message(dnswire.make_error(q, dnswire.RCODE_NXDOMAIN, p.question_end))
    assert r.qid == 99 and r.rcode == 3 and r.is_response and r.flags & 0x0100
    assert r.questions[0].name == "www.facebook.com"


def test_block_address_answer() -> None:
    q = dnswire.make_query("www.facebook.com", qid=5)
    ans = dnswire.make_address_answer(dnswire.parse_query(q), q, "198.51.100.1", 30)
    msg = dnswire.parse_message(ans)
    assert [r.address for r in msg.answers] == ["198.51.100.1"] and msg.answers[0].ttl == 30


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "shorter"),
        (b"\x00" * 11, "shorter"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", "loop"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x3fabc", "past the end"),
        (struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x80abc\x00\x00\x01\x00\x01", "reserved"),
        (struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01", "response"),
        (struct.pack("!HHHHHH", 1, 0, 2, 0, 0, 0) + b"\x00\x00\x01\x00\x01" * 2, "exactly one"),
    ],
)
def test_garbage_queries_raise_dns_error(raw: bytes, why: str) -> None:
    with pytest.raises(dnswire.DnsError):
        dnswire.parse_query(raw)


def test_over_long_name_is_refused() -> None:
    labels = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    raw = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + labels + b"\x00\x01\x00\x01"
    with pytest.raises(dnswire.DnsError, match="255"):
        dnswire.parse_query(raw)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_dns_error(raw: bytes) -> None:
    for fn in (dnswire.parse_query, dnswire.parse_message):
        try:
            fn(raw)
        except dnswire.DnsError:
            pass


def test_100k_mutated_messages() -> None:
    """Bit flips, truncations and length-field corruption of valid messages."""
    rng = random.Random(20261126)
    seeds = [
        dnswire.make_query("www.example.com"),
        scapy_answer("assets.example.gov.uk", "203.0.113.11", cname="d1.cdn.example.net"),
        scapy_answer("a.example", "203.0.113.1", "2001:db8::1"),
    ]
    for i in range(100_000):
        b = bytearray(seeds[i % len(seeds)])
        op = rng.randrange(4)
        if op == 0:
            b = b[: rng.randrange(len(b))]
        elif op == 1:
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 2:
            pos = rng.randrange(4, 12)
            b[pos] = rng.randrange(256)
        else:
            b[rng.randrange(12, len(b))] = rng.choice((0xC0, 0x3F, 0xFF, 0x00))
        for fn in (dnswire.parse_query, dnswire.parse_message):
            try:
                fn(bytes(b))
            except dnswire.DnsError:
                pass
