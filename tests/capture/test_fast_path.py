"""The pipeline's lean path and its general path must agree on every frame.

:meth:`PacketPipeline.feed` handles common, well-formed Ethernet frames without building a
:class:`~monitor.capture.frames.Packet`; everything else goes through ``frames.decode``.
Here the same frames go through a pipeline with the lean path and one without, and the
observations, counters, error reasons, address book and table sizes must be identical.
"""

from __future__ import annotations

import random
from dataclasses import astuple

import pytest

from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from tests.bench.bench_capture import generate
from tests.capture.pcaps import craft
from tests.capture.test_fuzz import corpus, mutate


def _pair(cfg: PipelineConfig) -> tuple[PacketPipeline, PacketPipeline]:
    fast, slow = PacketPipeline(cfg), PacketPipeline(cfg)
    slow.use_fast_path = False
    return fast, slow


def _same(frames: list[tuple[float, bytes]], cfg: PipelineConfig) -> PacketPipeline:
    fast, slow = _pair(cfg)
    for i, (ts, f) in enumerate(frames):
        a, b = fast.feed(ts, f), slow.feed(ts, f)
        assert [astuple(o) for o in a] == [astuple(o) for o in b], (i, f.hex())
    assert fast.counters == slow.counters
    assert fast.error_reasons == slow.error_reasons
    assert fast.address_book == slow.address_book
    assert fast._book.strong == slow._book.strong
    assert fast.health() == slow.health()
    return fast


@pytest.mark.parametrize(
    "cfg",
    [
        PipelineConfig(dedup_window=0),
        PipelineConfig(report_merges=True),
        PipelineConfig(chamber_networks=("198.51.100.0/25",), address_book_size=64),
    ],
)
def test_bench_traffic_same_on_both_paths(cfg: PipelineConfig) -> None:
    frames, truth = generate(15_000, seed=3)
    pipe = _same(frames, cfg)
    assert pipe.counters.observations > 1000 and pipe.counters.internal_errors == 0


def test_crafted_and_mutated_frames_same_on_both_paths() -> None:
    rng = random.Random(99)
    pool = corpus()
    pool += [craft.dns_query("x.example", src=craft.CLIENT6, dst="2001:db8:203::53")]
    pool += craft.tls_hello_stream("v6.example", src=craft.CLIENT6, dst=craft.SERVER6)
    frames = [(1000.0 + i, f) for i, f in enumerate(pool)]
    ts = 2000.0
    for _ in range(20_000):
        f = mutate(rng, rng.choice(pool), pool)
        if rng.random() < 0.3:
            f = mutate(rng, f, pool)
        ts += 0.003
        frames.append((ts, f))
        if rng.random() < 0.05:
            frames.append((ts, rng.choice(pool)))
    pipe = _same(frames, PipelineConfig(report_merges=True, max_flows=64, quic_max_conns=16))
    c = pipe.counters
    assert c.frame_errors and c.dns_errors and c.observations

