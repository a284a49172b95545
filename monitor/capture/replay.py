"""Replay a capture file through the same :class:`PacketPipeline` the live monitor uses.

pcap and pcapng (including gzip-compressed files) are read with scapy's raw readers, which
return bytes without dissecting them, so replay runs at the pipeline's speed. Each frame is
decoded with its own link type (a pcapng file can mix Ethernet and Linux "any" captures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from scapy.utils import RawPcapNgReader, RawPcapReader

from allowlist.observation import Observation
from monitor.capture.pipeline import PacketPipeline, PipelineConfig


def frames(path: str | os.PathLike[str]) -> Iterator[tuple[float, int, bytes]]:
    """``(timestamp, linktype, frame)`` for every record in a pcap/pcapng file."""
    reader = RawPcapReader(os.fspath(path))
    try:
        if isinstance(reader, RawPcapNgReader):
            for data, meta in reader:
                ng: Any = meta  # scapy types it as the pcap metadata tuple
                yield ((ng.tshigh << 32) | ng.tslow) / ng.tsresol, ng.linktype, data
        else:
            linktype = reader.linktype
            div = 1e9 if reader.nano else 1e6
            for data, meta in reader:
                yield meta.sec + meta.usec / div, linktype, data
    finally:
        reader.close()


def replay(
    path: str | os.PathLike[str],
    config: PipelineConfig | None = None,
    pipeline: PacketPipeline | None = None,
) -> Iterator[Observation]:
    """Observations from a capture file, in capture order.

    Pass ``pipeline`` to inspect its counters afterwards (or to continue a live session's
    state); otherwise a fresh one is built from ``config``.
    """
    pipe = pipeline if pipeline is not None else PacketPipeline(config)
    for ts, linktype, data in frames(path):
        yield from pipe.feed(ts, data, linktype)
