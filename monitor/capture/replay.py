"""Replay a capture file through the same :class:`PacketPipeline` the live monitor uses.

Classic pcap files (either byte order, micro- or nanosecond timestamps, optionally gzip-
compressed) are read here in large chunks with :mod:`struct` — about 0.5 µs a record, so
replay runs at the pipeline's speed. pcapng files go through scapy's raw reader, which
returns bytes without dissecting them. Each frame is decoded with its own link type (a
pcapng file can mix Ethernet and Linux "any" captures).

:func:`replay_jsonl` is what ``chamberguard replay PCAP --jsonl`` prints: one JSON object per
observation, with the policy's category and platform for the name.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TextIO

from allowlist.observation import Observation
from monitor.capture.pipeline import PacketPipeline, PipelineConfig

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e6),
    b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9),
    b"\xa1\xb2\x3c\x4d": (">", 1e9),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

#: ``decide(domain) -> (category, platform)``, either None when the policy has no opinion.
Decide = Callable[[str], tuple[str | None, str | None]]


class ReplayError(ValueError):
    """The file is not a capture we can read."""


@contextmanager
def _opened(path: str | os.PathLike[str]
            ) -> Iterator[tuple[IO[bytes] | gzip.GzipFile, tuple[str, float] | None]]:
    """The capture file (gunzipped on the fly) just past its first four bytes, and the
    classic pcap format they name; None: pcapng or unknown, for scapy to read instead."""
    fspath = os.fspath(path)
    raw: IO[bytes] | gzip.GzipFile = open(fspath, "rb")  # noqa: SIM115 - closed in finally
    try:
        if raw.read(2) == _GZIP_MAGIC:
            raw.close()
            raw = gzip.open(fspath, "rb")
        else:
            raw.seek(0)
        yield raw, _PCAP_MAGIC.get(raw.read(4))
    finally:
        raw.close()


def frames(path: str | os.PathLike[str]) -> Iterator[tuple[float, int, bytes]]:
    """``(timestamp, linktype, frame)`` for every record in a pcap/pcapng file.

    A record cut short at the end of the file (a capture that was still being written)
    ends the iteration quietly, as it does in tcpdump.
    """
    with _opened(path) as (raw, fmt):
        if fmt is not None:
            yield from _pcap_frames(raw, *fmt)
            return
    yield from _scapy_frames(os.fspath(path))


def _pcap_frames(
    f: IO[bytes] | gzip.GzipFile, order: str, div: float
) -> Iterator[tuple[float, int, bytes]]:
    for linktype, batch in _pcap_batches(f, order, div):
        for ts, data in batch:
            yield ts, linktype, data


def _pcap_batches(
    f: IO[bytes] | gzip.GzipFile, order: str, div: float
) -> Iterator[tuple[int, list[tuple[float, bytes]]]]:
    """The records of each chunk read, as ``(linktype, [(ts, frame), …])``."""
    head = f.read(20)
    if len(head) < 20:
        raise ReplayError("truncated pcap header")
    linktype = struct.unpack(order + "HHiIII", head)[5] & 0x0FFFFFFF  # top bits: FCS info
    rec = struct.Struct(order + "IIII").unpack_from
    buf = b""
    pos = 0
    while True:
        chunk = f.read(_CHUNK)
        if not chunk:
            return
        buf = buf[pos:] + chunk if pos < len(buf) else chunk
        pos = 0
        batch: list[tuple[float, bytes]] = []
        n = len(buf)
        while pos + 16 <= n:
            sec, frac, incl, _orig = rec(buf, pos)
            end = pos + 16 + incl
            if end > n:
                if incl > 0x4000000:  # 64 MiB: no link layer has frames this large
                    yield linktype, batch
                    raise ReplayError("corrupt pcap record length")
                break
            batch.append((sec + frac / div, buf[pos + 16 : end]))
            pos = end
        yield linktype, batch


def _batches(path: str | os.PathLike[str]) -> Iterator[tuple[int, list[tuple[float, bytes]]]]:
    """:func:`frames` grouped per read (classic pcap) or one record at a time (pcapng)."""
    with _opened(path) as (raw, fmt):
        if fmt is not None:
            yield from _pcap_batches(raw, *fmt)
            return
    for ts, linktype, data in _scapy_frames(os.fspath(path)):
        yield linktype, [(ts, data)]


def _scapy_frames(path: str) -> Iterator[tuple[float, int, bytes]]:
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        reader = RawPcapReader(path)
    except Scapy_Exception as exc:
        raise ReplayError(f"{path}: not a pcap or pcapng file ({exc})") from exc
    try:
        if isinstance(reader, RawPcapNgReader):
            for data, meta in reader:
                ng: Any = meta  # scapy types it as the pcap metadata tuple
                yield ((ng.tshigh << 32) | ng.tslow) / ng.tsresol, ng.linktype, data
        else:  # pragma: no cover - classic pcap is read above
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
    feed = pipe.feed
    for linktype, batch in _batches(path):
        for ts, data in batch:
            out = feed(ts, data, linktype)
            if out:
                yield from out


def observation_record(
    obs: Observation, decide: Decide | None = None
) -> dict[str, str | float | None]:
    """The JSON-ready form of one observation: ts, mac, ip, channel, domain, category,
    platform (the last two from ``decide``; null without one, or when it returns None)."""
    category, platform = decide(obs.domain) if decide is not None else (None, None)
    return {
        "ts": obs.ts,
        "mac": obs.mac,
        "ip": obs.ip,
        "channel": str(obs.channel),
        "domain": obs.domain,
        "category": category,
        "platform": platform,
    }


def replay_jsonl(
    path: str | os.PathLike[str],
    out: TextIO,
    *,
    decide: Decide | None = None,
    config: PipelineConfig | None = None,
    pipeline: PacketPipeline | None = None,
) -> int:
    """Write one JSON object per observation in ``path`` to ``out`` (JSON Lines); return
    how many were written.

    Keys: ``ts`` (seconds since the epoch, float), ``mac`` and ``ip`` (text or null),
    ``channel`` (dns, tls, quic, http, dhcp), ``domain``, ``category`` and ``platform``
    (from ``decide(domain)``; null where it has no answer or no ``decide`` is given).
    Decisions are cached per domain: a capture names the same few hundred domains again
    and again. Raises :class:`ReplayError` for a file that is not a capture.
    """
    cache: dict[str, tuple[str | None, str | None]] = {}

    def cached(domain: str) -> tuple[str | None, str | None]:
        hit = cache.get(domain)
        if hit is None:
            assert decide is not None
            hit = cache[domain] = decide(domain) or (None, None)
        return hit

    count = 0
    write = out.write
    for obs in replay(path, config, pipeline):
        rec = observation_record(obs, cached if decide is not None else None)
        write(json.dumps(rec, separators=(",", ":")) + "\n")
        count += 1
    return count
