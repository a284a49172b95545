"""Stream reassembly: correctness under reordering/overlap, and hard memory bounds."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.capture.frames import TCP_ACK, TCP_RST, TCP_SYN
from monitor.capture.reassembly import StreamBuffer, TcpReassembler

KEY = ("198.51.100.23", 50000, "203.0.113.10", 443)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=400),
    cap=st.integers(1, 500),
    cuts=st.lists(st.tuples(st.integers(-50, 450), st.integers(0, 120)), max_size=12),
    seed=st.integers(0, 2**32),
)
def test_stream_buffer_prefix_is_exact(
    data: bytes, cap: int, cuts: list[tuple[int, int]], seed: int
) -> None:
    """Any multiset of (possibly overlapping, out-of-order) slices plus the whole stream
    yields exactly the stream's first ``cap`` bytes."""
    segs = [(a, min(a + n, len(data))) for a, n in cuts] + [(0, len(data))]
    random.Random(seed).shuffle(segs)
    sb = StreamBuffer(cap)
    for a, b in segs:
        if a >= 0 and b > a:
            sb.add(a, data[a:b])
    assert sb.prefix() == data[:cap]
    assert len(sb.data) <= cap
    assert sb.ranges == [(0, min(cap, len(data)))]


def test_first_wins_on_conflicting_overlap() -> None:
    sb = StreamBuffer(100)
    sb.add(5, b"AAAAA")
    sb.add(0, b"bbbbbbbbbbbb")
    assert sb.prefix() == b"bbbbbAAAAAbb"


def test_out_of_order_segments_with_sequence_wraparound() -> None:
    r = TcpReassembler()
    isn = 0xFFFFFFF0
    data = bytes(range(256)) * 4
    assert r.segment(0.0, KEY, isn, TCP_SYN, b"", False) is None
    second = (isn + 1 + 500) & 0xFFFFFFFF
    assert r.segment(0.1, KEY, second, TCP_ACK, data[500:], False) is None
    got = r.segment(0.2, KEY, isn + 1, TCP_ACK, data[:500], False)
    assert got == data


def test_synless_stream_only_when_caller_vouches() -> None:
    r = TcpReassembler()
    assert r.segment(0.0, KEY, 77, TCP_ACK, b"\x17\x03\x03 mid-stream", False) is None
    assert len(r) == 0
    assert r.segment(0.0, KEY, 77, TCP_ACK, b"\x16\x03\x01", True) == b"\x16\x03\x01"


def test_tombstone_and_reset() -> None:
    r = TcpReassembler()
    r.segment(0.0, KEY, 0, TCP_SYN, b"", False)
    assert r.segment(0.1, KEY, 1, TCP_ACK, b"abc", False) == b"abc"
    r.finish(KEY)
    assert r.buffered_bytes == 0
    assert r.segment(0.2, KEY, 4, TCP_ACK, b"\x16\x03\x01", True) is None  # stays finished
    r.segment(0.3, KEY, 7, TCP_RST, b"", False)
    assert len(r) == 0


def test_idle_timeout() -> None:
    r = TcpReassembler(idle_timeout=5.0)
    r.segment(0.0, KEY, 0, TCP_SYN, b"", False)
    other = ("198.51.100.24", 1, "203.0.113.1", 443)
    r.segment(10.0, other, 0, TCP_SYN, b"", False)
    assert len(r) == 1 and r.stats.evicted_idle == 1


def test_per_flow_cap_and_lru() -> None:
    r = TcpReassembler(max_bytes=100, max_flows=3)
    for i in range(5):
        r.segment(float(i), ("h", i, "s", 443), 0, TCP_SYN, b"", False)
    assert len(r) == 3 and r.stats.evicted_lru == 2
    k = ("h", 4, "s", 443)
    got = r.segment(6.0, k, 1, TCP_ACK, b"x" * 500, False)
    assert got == b"x" * 100 and r.is_full(len(got))


def test_adversarial_stream_stays_within_bounds() -> None:
    """Random flows, random sequence numbers, many holes and floods: the table never holds
    more than max_flows streams, max_total_bytes in all, or max_bytes per stream."""
    rng = random.Random(1234)
    r = TcpReassembler(
        max_bytes=2048, max_flows=64, max_total_bytes=40_000, idle_timeout=3.0, max_holes=8
    )
    ts = 0.0
    for _ in range(60_000):
        ts += rng.random() * 0.001
        key = ("198.51.100." + str(rng.randrange(40)), rng.randrange(30), "203.0.113.1", 443)
        flags = rng.choice([TCP_SYN, TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK, TCP_RST])
        seq = rng.randrange(2**32) if rng.random() < 0.2 else rng.randrange(4000)
        payload = rng.randbytes(rng.choice([0, 1, 3, 50, 700, 1500]))
        r.segment(ts, key, seq, flags, payload, rng.random() < 0.5)
        assert len(r) <= 64
        assert r.buffered_bytes <= 40_000
        for flow in r._flows.values():
            if flow.stream is not None:
                assert len(flow.stream.data) <= 2048
                assert len(flow.stream.ranges) <= 8
    assert r.buffered_bytes == sum(
        len(f.stream.data) for f in r._flows.values() if f.stream is not None
    )
