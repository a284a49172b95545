"""Reassembly of the *first bytes* of client streams, with memory bounded by construction.

The monitor only needs the opening of a stream: a TLS ClientHello (two segments with a
post-quantum key share), an HTTP request line and Host header, a QUIC CRYPTO stream. So each
stream keeps at most ``max_bytes`` from offset 0, at most ``max_holes`` disjoint ranges, and
the table keeps at most ``max_flows`` streams and ``max_total_bytes`` in all, evicting the
least recently used. Nothing an adversary sends can make it grow past those numbers.

Overlaps are resolved first-wins: bytes already placed are never overwritten, so a later
retransmission with different content cannot change what was parsed (and it is what most
receivers' stacks do for the data they already hold).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from monitor.capture.frames import TCP_ACK, TCP_RST, TCP_SYN

#: Identifies one direction of a connection (client → server). Any hashable value works; the
#: pipeline uses the raw bytes of source address, destination address and the two ports.
FlowKey = Hashable


class StreamBuffer:
    """Bytes of one stream placed by offset; knows the contiguous prefix from offset 0."""

    __slots__ = ("data", "ranges", "cap", "overflowed")

    def __init__(self, cap: int) -> None:
        self.data = bytearray()
        self.ranges: list[tuple[int, int]] = []  # sorted, disjoint, non-adjacent [a, b)
        self.cap = cap
        self.overflowed = False  # something was offered beyond the cap

    @property
    def prefix_len(self) -> int:
        r = self.ranges
        return r[0][1] if r and r[0][0] == 0 else 0

    def prefix(self) -> bytes:
        return bytes(self.data[: self.prefix_len])

    def add(self, offset: int, chunk: bytes) -> bool:
        """Place ``chunk`` at ``offset`` (clipped to [0, cap)); True if the prefix grew."""
        if not self.ranges and offset == 0 and 0 < len(chunk) <= self.cap:
            # The usual first segment (a whole ClientHello or request) into an empty buffer.
            self.data[: len(chunk)] = chunk
            self.ranges = [(0, len(chunk))]
            return True
        if offset < 0:
            chunk = chunk[-offset:]
            offset = 0
        start = offset
        end = offset + len(chunk)
        if end > self.cap:
            self.overflowed = True
            end = self.cap
        if start >= end:
            return False
        before = self.prefix_len
        data = self.data
        if len(data) < end:
            data.extend(bytes(end - len(data)))
        ranges = self.ranges
        # Write only into the gaps of [start, end) (first-wins), then merge the range in.
        cur = start
        for a, b in ranges:
            if b <= cur:
                continue
            if a >= end:
                break
            if a > cur:
                data[cur:a] = chunk[cur - offset : a - offset]
            if b > cur:
                cur = b
            if cur >= end:
                break
        if cur < end:
            data[cur:end] = chunk[cur - offset : end - offset]
        merged: list[tuple[int, int]] = []
        placed = False
        for a, b in ranges:
            if b < start:
                merged.append((a, b))
            elif a > end:
                if not placed:
                    merged.append((start, end))
                    placed = True
                merged.append((a, b))
            else:
                start = min(a, start)
                end = max(b, end)
        if not placed:
            merged.append((start, end))
        self.ranges = merged
        return self.prefix_len > before


class _Flow:
    __slots__ = ("base", "stream", "last_seen", "done")

    def __init__(self, base: int, cap: int, ts: float) -> None:
        self.base = base
        self.stream: StreamBuffer | None = StreamBuffer(cap)
        self.last_seen = ts
        self.done = False


@dataclass(slots=True)
class ReassemblyStats:
    """Counters for the dashboard's health panel and for tests of the bounds."""

    created: int = 0
    evicted_lru: int = 0
    evicted_idle: int = 0
    evicted_memory: int = 0
    gave_up_holes: int = 0
    reset: int = 0


class TcpReassembler:
    """Per-direction TCP reassembly of the start of client streams.

    A stream is tracked from its SYN (data starts at ISN+1) or, when the capture began
    mid-handshake, from a data segment the caller vouches for (``may_start``: it looks like
    the start of a TLS/HTTP request). A stream the caller has finished with stays as a
    buffer-less tombstone until evicted, so the rest of a long download never re-opens it.
    """

    def __init__(
        self,
        max_bytes: int = 16384,
        max_flows: int = 4096,
        max_total_bytes: int = 8 << 20,
        idle_timeout: float = 30.0,
        max_holes: int = 16,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_flows = max_flows
        self.max_total_bytes = max_total_bytes
        self.idle_timeout = idle_timeout
        self.max_holes = max_holes
        self._flows: OrderedDict[FlowKey, _Flow] = OrderedDict()
        self._bytes = 0
        self.stats = ReassemblyStats()

    def __len__(self) -> int:
        return len(self._flows)

    @property
    def flows(self) -> Mapping[FlowKey, object]:
        """The live flow table (read-only use: membership tests on the hot path)."""
        return self._flows

    @property
    def buffered_bytes(self) -> int:
        """Bytes held in stream buffers right now (tombstones hold none)."""
        return self._bytes

    def segment(
        self, ts: float, key: FlowKey, seq: int, flags: int, payload: bytes, may_start: bool
    ) -> bytes | None:
        """Account one segment; return the stream's contiguous prefix if it just grew."""
        flows = self._flows
        if flows and next(iter(flows.values())).last_seen < ts - self.idle_timeout:
            self.expire(ts)
        flow = flows.get(key)
        if flags & TCP_RST:
            if flow is not None:
                self._drop(key, flow)
                self.stats.reset += 1
            return None
        if flags & TCP_SYN:
            if flags & TCP_ACK:
                return None  # server's SYN-ACK: its stream is not one we parse
            isn = (seq + 1) & 0xFFFFFFFF
            if flow is not None and flow.base == isn:
                flow.last_seen = ts
                flows.move_to_end(key)
            else:
                if flow is not None:
                    self._drop(key, flow)  # port reused with a new ISN
                flow = self._create(key, isn, ts)
            seq = isn  # TCP Fast Open data rides on the SYN
            if not payload:
                return None
        elif flow is None:
            if not payload or not may_start:
                return None
            flow = self._create(key, seq, ts)
        else:
            flow.last_seen = ts
            flows.move_to_end(key)
        stream = flow.stream
        if stream is None or not payload:
            return None
        rel = (seq - flow.base) & 0xFFFFFFFF
        if rel >= 0x80000000:
            rel -= 0x100000000  # before the start: retransmitted SYN data, keep the overlap
        if rel >= self.max_bytes:
            stream.overflowed = True
            return None
        old = len(stream.data)
        grew = stream.add(rel, payload)
        delta = len(stream.data) - old
        if delta:
            self._bytes += delta
            self._enforce_memory(key)
            if key not in flows:
                return None  # evicted itself (only when a single flow exceeds the budget)
        if len(stream.ranges) > self.max_holes:
            self.stats.gave_up_holes += 1
            self.finish(key)
            return None
        return stream.prefix() if grew else None

    def finish(self, key: FlowKey) -> None:
        """The caller has what it needs (or gave up): free the buffer, keep a tombstone."""
        flow = self._flows.get(key)
        if flow is not None and flow.stream is not None:
            self._bytes -= len(flow.stream.data)
            flow.stream = None
            flow.done = True

    def is_full(self, prefix_len: int) -> bool:
        """True once a prefix has reached the per-stream cap: waiting longer is pointless."""
        return prefix_len >= self.max_bytes

    def expire(self, now: float) -> None:
        """Drop streams idle for longer than the timeout (oldest first, cheap when none)."""
        flows = self._flows
        limit = now - self.idle_timeout
        while flows:
            key, flow = next(iter(flows.items()))
            if flow.last_seen >= limit:
                break
            self._drop(key, flow)
            self.stats.evicted_idle += 1

    def _create(self, key: FlowKey, base: int, ts: float) -> _Flow:
        flows = self._flows
        while len(flows) >= self.max_flows:
            old_key, old = next(iter(flows.items()))
            self._drop(old_key, old)
            self.stats.evicted_lru += 1
        flow = _Flow(base, self.max_bytes, ts)
        flows[key] = flow
        self.stats.created += 1
        return flow

    def _drop(self, key: FlowKey, flow: _Flow) -> None:
        if flow.stream is not None:
            self._bytes -= len(flow.stream.data)
        del self._flows[key]

    def _enforce_memory(self, current: FlowKey) -> None:
        flows = self._flows
        while self._bytes > self.max_total_bytes and flows:
            old_key, old = next(iter(flows.items()))
            if old_key == current and len(flows) > 1:
                flows.move_to_end(current)
                continue
            self._drop(old_key, old)
            self.stats.evicted_memory += 1

