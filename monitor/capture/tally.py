"""Count what the live capture sees: an AF_PACKET socket feeding a PacketPipeline, nothing else.

A measuring instrument for tests and benchmarks (not part of the service): it captures on one
interface with the monitor's kernel filter, runs every frame through the same pipeline, and
when told to stop (SIGTERM/SIGINT, ``--seconds`` elapsed, or ``--frames`` taken) drains what
is still queued and prints one JSON object with what it observed and the kernel's counters::

    python -m monitor.capture.tally --iface chamber0 [--names] [--dedup 0] [--seconds 60]

The first line printed is ``{"ready": true, ...}`` once the socket is bound (so a driver knows
when traffic will be seen); the last is the report: ``received`` frames, ``kernel_packets``
(frames that passed the BPF filter) and ``kernel_drops`` (frames the kernel dropped because
the ring or receive queue was full) from PACKET_STATISTICS, ``mode`` (ring or queue),
``channels`` (observations per channel), ``names`` (sorted distinct names per channel, with
``--names``) and the pipeline's ``health`` counters. Deduplication is off by default so
every query counts.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections import Counter
from types import FrameType
from typing import Any

from monitor.capture.pipeline import PacketPipeline, PipelineConfig
from monitor.capture.socket import DEFAULT_FILTER, DEFAULT_RCVBUF, CaptureSocket


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def tally(
    iface: str,
    *,
    bpf: str = DEFAULT_FILTER,
    rcvbuf: int = DEFAULT_RCVBUF,
    config: PipelineConfig | None = None,
    seconds: float | None = None,
    max_frames: int | None = None,
    idle: float = 0.3,
    names: bool = False,
    promisc: bool = False,
    ring: bool = True,
    ready: Any = None,
) -> dict[str, Any]:
    """Capture until stopped (see the module docstring); return the report.

    After a stop request the socket is read until ``idle`` seconds pass without a frame, so
    frames the kernel already queued are counted rather than lost to the shutdown.
    """
    stop = _Stop()
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    pipe = PacketPipeline(config or PipelineConfig(dedup_window=0))
    channels: Counter[str] = Counter()
    seen: dict[str, set[str]] = {}
    feed = pipe.feed
    try:
        with CaptureSocket(
            iface, bpf, rcvbuf=rcvbuf, timeout=0.05, promisc=promisc, ring=ring
        ) as cap:
            mode, buffer_bytes = cap.mode, cap.rcvbuf
            if ready is not None:
                ready({"ready": True, "iface": iface, "mode": mode, "buffer_bytes": buffer_bytes})
            deadline = time.monotonic() + seconds if seconds is not None else None
            quiet_since: float | None = None
            recv_s = pipe_s = 0.0
            clock = time.process_time  # CPU time: what the loop costs, not who else ran
            while True:
                t0 = clock()
                batch = cap.recv_batch()
                t1 = clock()
                for ts, frame in batch:
                    for obs in feed(ts, frame):
                        ch = str(obs.channel)
                        channels[ch] += 1
                        if names:
                            seen.setdefault(ch, set()).add(obs.domain)
                if batch:
                    recv_s += t1 - t0  # waits for the first frame of an empty batch excluded
                    pipe_s += clock() - t1
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stop.requested = True
                if max_frames is not None and cap.stats.received >= max_frames:
                    stop.requested = True
                if not stop.requested:
                    continue
                if batch:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = now
                elif now - quiet_since >= idle:
                    break
            stats = cap.read_stats()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    report: dict[str, Any] = {
        "mode": mode,
        "buffer_bytes": buffer_bytes,
        "received": stats.received,
        "kernel_packets": stats.kernel_packets,
        "kernel_drops": stats.kernel_drops,
        "channels": dict(channels),
        # CPU time taking frames off the socket (recvmsg; the select that found the first
        # frame of a batch is included) and in the pipeline: their sum bounds the rate the
        # loop can sustain on one core.
        "recv_seconds": round(recv_s, 4),
        "pipeline_seconds": round(pipe_s, 4),
        "health": pipe.health(),
    }
    if names:
        report["names"] = {ch: sorted(v) for ch, v in seen.items()}
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--filter", default=DEFAULT_FILTER, help="tcpdump filter expression")
    ap.add_argument("--rcvbuf", type=int, default=DEFAULT_RCVBUF, help="capture buffer bytes")
    ap.add_argument("--no-ring", action="store_true", help="socket queue, not a TPACKET ring")
    ap.add_argument("--dedup", type=float, default=0.0, help="dedup window in seconds (0: off)")
    ap.add_argument("--chamber", action="append", default=[], help="chamber subnet (CIDR)")
    ap.add_argument("--seconds", type=float, help="stop after this long")
    ap.add_argument("--frames", type=int, help="stop after this many frames")
    ap.add_argument("--names", action="store_true", help="report the distinct names")
    ap.add_argument("--promisc", action="store_true", help="put the interface in promiscuous mode")
    args = ap.parse_args(argv)

    def say(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    report = tally(
        args.iface,
        bpf=args.filter,
        rcvbuf=args.rcvbuf,
        config=PipelineConfig(dedup_window=args.dedup, chamber_networks=tuple(args.chamber)),
        seconds=args.seconds,
        max_frames=args.frames,
        names=args.names,
        promisc=args.promisc,
        ring=not args.no_ring,
        ready=say,
    )
    say(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
