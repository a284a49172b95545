"""The C accelerator (monitor.capture._fastcap) against the Python reference.

Python is the specification: every C entry point must give exactly what the Python function
it ports gives, and a pipeline with the accelerator must give the same observations,
counters, error reasons, address book and table sizes as one without. Checked here on the
benchmark's traffic, on crafted frames, on mutated and random frames (seeded and with
hypothesis), and entry point by entry point; plus a fuzz run through the C entry points
(no crash, reassembly memory bounded) and the switches that force the pure-Python path.
"""

from __future__ import annotations

import gc
import os
import random
import struct
import weakref
from dataclasses import astuple, fields, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.capture import accel, quic, tls
from monitor.capture import replay as replay_mod
from monitor.capture.frames import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.capture.reassembly import TcpReassembler, fast_tcp_reassembler
from tests.bench.bench_capture import generate
from tests.capture.pcaps import craft, quicbuild, tlsbuild
from tests.capture.test_fuzz import corpus, mutate, quic_plaintext_mutants

N_FUZZ = int(os.environ.get("CAPTURE_FUZZ_N", "100000"))

needs_c = pytest.mark.skipif(
    not accel.enabled(), reason="monitor.capture._fastcap not built or CG_CAPTURE_ACCEL=0"
)

SMALL = PipelineConfig(
    max_flows=16,
    max_flow_bytes=2048,
    max_flow_total_bytes=12_000,
    quic_max_conns=8,
    address_book_size=64,
    dedup_size=128,
    report_merges=True,
)


def _pair(cfg: PipelineConfig) -> tuple[PacketPipeline, PacketPipeline]:
    fast, pure = PacketPipeline(cfg), PacketPipeline(replace(cfg, accelerate=False))
    assert fast.accelerated and not pure.accelerated
    return fast, pure


def _check_same(fast: PacketPipeline, pure: PacketPipeline) -> None:
    assert fast.counters == pure.counters
    assert fast.error_reasons == pure.error_reasons
    assert fast.address_book == pure.address_book
    assert fast._book.strong == pure._book.strong
    assert fast.health() == pure.health()
    assert set(fast.tcp.flows) == set(pure.tcp.flows)


def _same(frames: list[tuple[float, bytes]], cfg: PipelineConfig) -> PacketPipeline:
    fast, pure = _pair(cfg)
    for i, (ts, f) in enumerate(frames):
        a, b = fast.feed(ts, f), pure.feed(ts, f)
        assert [astuple(o) for o in a] == [astuple(o) for o in b], (i, f.hex())
    _check_same(fast, pure)
    return fast


# ------------------------------------------------------------------ whole pipeline


@needs_c
@pytest.mark.parametrize(
    "cfg",
    [
        PipelineConfig(dedup_window=0),
        PipelineConfig(report_merges=True),
        PipelineConfig(chamber_networks=("198.51.100.0/25",), address_book_size=64),
        replace(SMALL, dedup_window=0),
    ],
)
def test_bench_traffic_same_with_and_without_accelerator(cfg: PipelineConfig) -> None:
    frames, truth = generate(12_000, seed=11)
    pipe = _same(frames, cfg)
    c = pipe.counters
    assert c.observations > 1000 and c.tls_sni and c.quic_sni and c.internal_errors == 0


@needs_c
def test_crafted_and_mutated_frames_same_with_and_without_accelerator() -> None:
    rng = random.Random(2024)
    pool = corpus()
    pool += craft.tls_hello_stream("v6.example", src=craft.CLIENT6, dst=craft.SERVER6)
    pool += craft.tls_hello_stream("ooo.example", cuts=[200, 700], order=[2, 0, 1])
    frames = [(1000.0 + i, f) for i, f in enumerate(pool)]
    frames += [(1100.0 + i * 0.01, f) for i, f in enumerate(quic_plaintext_mutants(rng, 600))]
    ts = 2000.0
    for _ in range(25_000):
        f = mutate(rng, rng.choice(pool), pool)
        if rng.random() < 0.3:
            f = mutate(rng, f, pool)
        ts += rng.choice([0.001, 0.01, 0.5])  # some gaps exercise the idle timeouts
        frames.append((ts, f))
        if rng.random() < 0.05:
            frames.append((ts, rng.choice(pool)))
    for cfg in (SMALL, replace(SMALL, dedup_window=0, max_flow_total_bytes=3000)):
        pipe = _same(frames, cfg)
        c = pipe.counters
        assert c.frame_errors and c.dns_errors and c.quic_errors and c.observations
        assert pipe.tcp.stats.evicted_lru and pipe.tcp.stats.created


_POOL = corpus()


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.tuples(
                st.integers(0, len(_POOL) - 1),
                st.lists(st.tuples(st.integers(0, 1600), st.integers(0, 255)), max_size=5),
                st.integers(14, 1600),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_hypothesis_frames_same_with_and_without_accelerator(items: list[Any]) -> None:
    frames: list[tuple[float, bytes]] = []
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            frame = item
        else:
            idx, edits, cut = item
            b = bytearray(_POOL[idx])
            for pos, val in edits:
                b[pos % len(b)] = val
            frame = bytes(b[:cut])
        frames.append((10.0 + i, frame))
    _same(frames + [(30.0, f) for f in _POOL[:4]], SMALL)


# -------------------------------------------------------------- entry by entry


def _tls_mutants(rng: random.Random, n: int) -> list[bytes]:
    base = [
        tlsbuild.records(tlsbuild.client_hello("www.example.com")),
        tlsbuild.records(tlsbuild.client_hello("pq.example", pq_key_share=True)),
        tlsbuild.records(tlsbuild.client_hello(None)),
        tlsbuild.records(tlsbuild.client_hello("frag.example"), max_fragment=200),
    ]
    out = list(base)
    for _ in range(n):
        m = mutate(rng, rng.choice(base), base)
        out.append(m)
        out.append(m[: rng.randrange(len(m) + 1)])
    return out


@needs_c
def test_tls_entry_points_match_python() -> None:
    rng = random.Random(7)
    for data in _tls_mutants(rng, 15_000):
        assert accel.sni_from_stream(data) == tls.sni_from_stream(data), data.hex()
        hs = data[5:]
        assert accel.sni_from_handshake(hs) == tls.sni_from_handshake(hs), hs.hex()


@needs_c
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_tls_entry_points_on_random_bytes(data: bytes) -> None:
    for d in (data, b"\x16\x03\x01" + data, b"\x01" + data):
        assert accel.sni_from_stream(d) == tls.sni_from_stream(d)
        assert accel.sni_from_handshake(d) == tls.sni_from_handshake(d)


def _quic_datagrams(rng: random.Random, n: int) -> list[bytes]:
    base = [craft.quic_initials("bsky.app", version=v) for v in (quic.QUIC_V1, quic.QUIC_V2)]
    flat = [d for pair in base for d in pair]
    hello = tlsbuild.client_hello("tok.example")
    for token in (b"", b"t" * 70, b"T" * 300):  # headers of every length
        flat.append(
            quicbuild.protect_initial(
                quicbuild.crypto_frame(0, hello), b"\x07" * 20, token=token, pn_len=2
            )
        )
    out = list(flat)
    for _ in range(n):
        out.append(mutate(rng, rng.choice(flat), flat))
    plain = b"\x01" + quicbuild.crypto_frame(0, hello) + b"\x02\x05\x00\x01\x00\x01\x02"
    for i in range(n // 20):  # valid protection around mutated plaintext
        out.append(
            quicbuild.protect_initial(
                mutate(rng, plain, [plain])[:1000],
                rng.randbytes(rng.randrange(21)),
                version=(quic.QUIC_V1, quic.QUIC_V2)[i % 2],
                pn=rng.randrange(1 << 16),
                pn_len=rng.randint(2, 4),
                token=rng.randbytes(rng.choice([0, 5, 90])),
            )
        )
    return out


def _py_frames(payload: bytes) -> object:
    try:
        return quic.crypto_frames(payload)
    except quic.QuicError as exc:
        return exc.reason


@needs_c
def test_quic_entry_points_match_python() -> None:
    fc = accel.module()
    rng = random.Random(5)
    pure = quic.QuicSniTracker(accelerate=False)
    opened = 0
    for data in _quic_datagrams(rng, 8000):
        for pos in (0, 1, len(data) // 2):
            h = quic.header_tuple(data, pos)
            assert fc.quic_header(data, pos) == h, (pos, data.hex())
            if isinstance(h, tuple) and h[1]:
                version, _, dcid, pn_off, end = h
                want = pure._open_py(data, pos, pn_off, end, dcid, version)
                assert fc.quic_open(data, pos, pn_off, end, dcid, version) == want
                if want is not None:
                    opened += 1
                    plain = want[1]
                    assert fc.crypto_frames(plain) == _py_frames(plain)
                    for _ in range(3):
                        m = mutate(rng, plain, [plain])
                        assert fc.crypto_frames(m) == _py_frames(m), m.hex()
    assert opened > 300


def _outcome(tracker: quic.QuicSniTracker, ts: float, data: bytes) -> object:
    try:
        return tracker.datagram(ts, data)
    except quic.QuicError as exc:
        return exc.reason


@needs_c
@pytest.mark.parametrize("max_bytes", [16384, 1500])
def test_quic_tracker_matches_python(max_bytes: int) -> None:
    rng = random.Random(max_bytes)
    kw: dict[str, Any] = {"max_conns": 8, "max_bytes": max_bytes, "timeout": 30.0}
    fast = quic.QuicSniTracker(accelerate=True, **kw)
    pure = quic.QuicSniTracker(accelerate=False, **kw)
    assert fast.accelerated and not pure.accelerated
    data = _quic_datagrams(rng, 3000)
    data += [f[42:] for f in quic_plaintext_mutants(rng, 1500)]  # UDP payloads
    rng.shuffle(data)
    ts = 0.0
    for i, d in enumerate(data):
        if rng.random() < 0.1:
            d += rng.choice(data)  # coalesced packets, or trailing junk
        ts += rng.choice([0.001, 0.05, 1.0])
        assert _outcome(fast, ts, d) == _outcome(pure, ts, d), (i, d.hex())
        assert len(fast) == len(pure)
    assert fast.stats == pure.stats
    s = fast.stats
    assert s.sni and s.decrypt_failed and s.evicted and s.not_tls + s.no_sni
    fast.expire(ts + 100)
    pure.expire(ts + 100)
    assert len(fast) == len(pure) == 0


@needs_c
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 40))
def test_quic_parsers_on_random_bytes(data: bytes, pos: int) -> None:
    fc = accel.module()
    for d in (data, b"\xc0\x00\x00\x00\x01" + data, b"\xd0\x6b\x33\x43\xcf" + data):
        assert fc.quic_header(d, pos) == quic.header_tuple(d, pos)
        assert fc.crypto_frames(d) == _py_frames(d)


def _segments(rng: random.Random, n: int) -> list[tuple[float, Any, int, int, bytes, bool]]:
    out = []
    ts = 0.0
    for _ in range(n):
        ts += rng.choice([0.0005, 0.01, 0.2, 2.0])
        key = (rng.randrange(12), "k") if rng.random() < 0.5 else bytes([rng.randrange(12)])
        flags = rng.choice([TCP_SYN, TCP_ACK, TCP_ACK, TCP_ACK, TCP_ACK | TCP_FIN, TCP_RST,
                            TCP_SYN | TCP_ACK])  # fmt: skip
        seq = rng.randrange(2**32) if rng.random() < 0.1 else rng.randrange(-5, 3000) % 2**32
        payload = rng.randbytes(rng.choice([0, 1, 3, 50, 700, 1500]))
        out.append((ts, key, seq, flags, payload, rng.random() < 0.6))
    return out


def _reasm_pair(**kw: Any) -> tuple[Any, TcpReassembler]:
    return fast_tcp_reassembler(**kw), TcpReassembler(**kw)


@needs_c
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"max_bytes": 2048, "max_flows": 8, "max_total_bytes": 6000, "idle_timeout": 3.0},
        {"max_bytes": 500, "max_flows": 4, "max_total_bytes": 400, "max_holes": 2},
    ],
)
def test_reassembler_matches_python(kw: dict[str, Any]) -> None:
    fast, pure = _reasm_pair(**kw)
    rng = random.Random(len(kw))
    for i, seg in enumerate(_segments(rng, 30_000)):
        assert fast.segment(*seg) == pure.segment(*seg), i
        if rng.random() < 0.05:
            fast.finish(seg[1])
            pure.finish(seg[1])
        assert len(fast) == len(pure) and fast.buffered_bytes == pure.buffered_bytes, i
    assert fast.stats == pure.stats
    assert list(fast.flows) and set(fast.flows) == set(pure.flows)
    for f in fields(pure.stats):
        assert getattr(fast.stats, f.name) == getattr(pure.stats, f.name)
    fast.expire(1e9)
    pure.expire(1e9)
    assert len(fast) == len(pure) == 0 and fast.buffered_bytes == 0


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 2**32 - 1),
            st.sampled_from([TCP_SYN, TCP_ACK, TCP_RST, TCP_SYN | TCP_ACK]),
            st.integers(0, 300),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_reassembler_hypothesis(segs: list[tuple[int, int, int, int, bool]]) -> None:
    fast, pure = _reasm_pair(max_bytes=256, max_flows=3, max_total_bytes=500, max_holes=3)
    for i, (k, seq, flags, size, may) in enumerate(segs):
        payload = bytes((seq + j) & 0xFF for j in range(size))
        seq = seq if i % 3 else seq % 600
        args = (float(i), k, seq, flags, payload, may)
        assert fast.segment(*args) == pure.segment(*args)
        assert fast.buffered_bytes == pure.buffered_bytes and len(fast) == len(pure)
    assert fast.stats == pure.stats


# ------------------------------------------------------------------------- fuzz


@needs_c
def test_fuzz_c_entry_points() -> None:
    """N_FUZZ random and mutated inputs through every C entry point: no crash, only the
    documented results, and the C reassembler's memory within its bounds throughout."""
    fc = accel.module()
    rng = random.Random(0xFA57)
    pool = corpus() + _quic_datagrams(rng, 50) + _tls_mutants(rng, 50)
    pipe = PacketPipeline(SMALL)
    reasm: Any = fast_tcp_reassembler(max_bytes=1024, max_flows=32, max_total_bytes=9000)
    tracker = quic.QuicSniTracker(max_conns=16, max_bytes=2048, accelerate=True)
    ts = 0.0
    for i in range(N_FUZZ):
        data = mutate(rng, rng.choice(pool), pool)
        if rng.random() < 0.3:
            data = mutate(rng, data, pool)
        ts += 0.0005
        pipe.feed(ts, data)
        assert isinstance(fc.sni_from_stream(data), str | int)
        assert isinstance(fc.sni_from_handshake(data), str | int)
        frames = fc.crypto_frames(data)
        assert isinstance(frames, list | str)
        pos = rng.randrange(len(data) + 2)
        h = fc.quic_header(data, pos)
        if isinstance(h, tuple) and h[1]:
            res = fc.quic_open(data, pos, h[3], h[4], h[2], h[0])
            assert res is None or isinstance(res[1], bytes)
        flags = rng.choice([TCP_SYN, TCP_ACK, TCP_ACK, TCP_RST])
        reasm.segment(ts, i % 50, rng.randrange(2**32), flags, data, True)
        try:
            tracker.datagram(ts, data[42:] if rng.random() < 0.5 else data)
        except quic.QuicError:
            pass
        if i % 499 == 0:
            streams = reasm.streams()
            assert len(streams) <= 32 and reasm.buffered_bytes <= 9000
            for s in streams:
                assert s is None or (s[0] <= 1024 and s[2] <= 1024 and s[1] <= 16)
            assert len(tracker) <= 16
            for s in tracker._c.streams():
                assert s is None or (s[0] <= 2048 and s[2] <= 2048)
            assert len(pipe.tcp) <= SMALL.max_flows
            assert pipe.tcp.buffered_bytes <= SMALL.max_flow_total_bytes
    assert pipe.counters.internal_errors == 0, pipe.error_reasons
    assert pipe.counters.frames == N_FUZZ


# ----------------------------------------------------------------------- switches


def test_env_switch_forces_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(accel.ENV_SWITCH, "0")
    assert not accel.enabled()
    pipe = PacketPipeline()
    assert not pipe.accelerated and not pipe.quic.accelerated
    assert isinstance(pipe.tcp, TcpReassembler)
    assert pipe._lean_impl == pipe._lean
    obs = [o for f in craft.tls_hello_stream("www.linkedin.com") for o in pipe.feed(1.0, f)]
    assert [o.domain for o in obs] == ["www.linkedin.com"]
    monkeypatch.setenv(accel.ENV_SWITCH, "1")
    assert accel.enabled() == accel.available()


def test_config_switch_forces_pure_python() -> None:
    pipe = PacketPipeline(PipelineConfig(accelerate=False))
    assert not pipe.accelerated and not pipe.quic.accelerated
    assert isinstance(pipe.tcp, TcpReassembler)


def test_missing_extension_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the built extension everything runs in Python, with the same results."""
    frames, _truth = generate(3000, seed=4)
    cfg = PipelineConfig(dedup_window=0)
    want = None
    if accel.enabled():
        ref = PacketPipeline(cfg)
        want = [astuple(o) for ts, f in frames for o in ref.feed(ts, f)]
    monkeypatch.setattr(accel, "fastcap", None)
    assert not accel.available() and not accel.enabled()
    pipe = PacketPipeline(cfg)
    assert not pipe.accelerated and not quic.QuicSniTracker().accelerated
    got = [astuple(o) for ts, f in frames for o in pipe.feed(ts, f)]
    assert got and pipe.counters.internal_errors == 0
    if want is not None:
        assert got == want


def _pcap(order: str, nano: bool, records: list[tuple[int, int, bytes]], tail: bytes) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return out + tail


@needs_c
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize(
    "tail",
    [b"", b"\x01\x02\x03", struct.pack("<IIII", 1, 2, 500, 500) + b"x" * 20, b"\xff" * 16],
)
def test_pcap_records_match_python(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, order: str, nano: bool, tail: bytes
) -> None:
    """Chunked reading (records across the 1 MiB chunk boundary), both byte orders, micro-
    and nanosecond stamps, a record cut short at the end, a corrupt record length."""
    rng = random.Random(len(tail))
    top = 10**9 if nano else 10**6
    records = [
        (1_700_000_000 + i, rng.randrange(top), rng.randbytes(rng.randrange(1600)))
        for i in range(3000)
    ]
    path = tmp_path / "x.pcap"
    path.write_bytes(_pcap(order, nano, records, tail))

    def read() -> tuple[list[Any], str | None]:
        got: list[Any] = []
        try:
            for item in replay_mod.frames(path):
                got.append(item)
        except replay_mod.ReplayError as exc:
            return got, str(exc)
        return got, None

    fast = read()
    monkeypatch.setenv(accel.ENV_SWITCH, "0")
    pure = read()
    assert fast == pure
    assert len(fast[0]) == 3000
    if tail == b"\xff" * 16:
        assert fast[1] == "corrupt pcap record length"


@needs_c
def test_pipelines_are_collected() -> None:
    """The C objects and the pipeline reference each other; the cycle must be collectable
    (a sensor that rebuilds its pipeline must not leak the old one)."""
    pipe = PacketPipeline(PipelineConfig(dedup_window=0))
    for ts, f in generate(300, seed=1)[0]:
        pipe.feed(ts, f)
    ref = weakref.ref(pipe)
    del pipe
    gc.collect()
    assert ref() is None
