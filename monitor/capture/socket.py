"""Live capture edge: a Linux AF_PACKET socket with a kernel BPF filter.

Why not scapy's sniffer: it dissects every packet in Python and, measured on the gateway,
loses most of a burst. Here the kernel filters (:mod:`monitor.capture.bpf_filter`: only
name-bearing frames — DNS, DHCP, ClientHellos, QUIC Initials, HTTP request lines, ARP and
neighbour discovery — reach user space), frames land in an 8 MB TPACKET_V3 ring mapped
into our memory (falling back to an 8 MB socket receive queue where the kernel refuses a
ring), and :meth:`CaptureSocket.recv_batch` hands raw bytes to
:class:`~monitor.capture.pipeline.PacketPipeline`. Kernel drop counts come from
``PACKET_STATISTICS`` so a lossy capture is visible, not silent.

Why a ring: taking a frame off the socket queue costs a ``recvmsg`` (~2-5 µs in Python) and
the queue charges each frame its whole kernel buffer (~1-2 KB of ``rcvbuf`` for a 90-byte
DNS query). From the ring a frame costs ~0.6 µs, and it occupies ~150 bytes: the same 8 MB
holds ~55,000 small frames instead of ~5,000, so a monitor starved of CPU for a moment (the
gateway also runs the gate, the web app and the database) does not drop a burst.

scapy is used only to compile the filter expression in-process with libpcap (no root, no
interface needed). libpcap comes from Debian's ``libpcap0.8``, which ``deploy/bootstrap.sh``
installs; there is no second compiler to fall back on, so a missing library is one clear error.
"""

from __future__ import annotations

import ctypes
import ipaddress
import logging
import mmap
import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import netifaces

from monitor.capture.bpf_filter import DEFAULT_FILTER
from monitor.capture.frames import DLT_EN10MB

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
PACKET_OUTGOING = 4
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_USER = 1
MSG_DONTWAIT = socket.MSG_DONTWAIT
_timespec = struct.Struct("qq").unpack_from
# TPACKET_V3 layouts (linux/if_packet.h): the block descriptor's status / packet count /
# first-packet offset at +8, and per packet tpacket3_hdr (next offset, sec, nsec, snaplen,
# len, status, mac offset) followed, at +48, by a sockaddr_ll whose pkttype is at +10.
_block_head = struct.Struct("=III").unpack_from
_pkt_head = struct.Struct("=IIIIIIH").unpack_from
_set_u32 = struct.Struct("=I").pack_into
_PKT_SLL_PKTTYPE = 48 + 10
RING_BLOCK = 1 << 18

log = logging.getLogger(__name__)

DEFAULT_RCVBUF = 8 << 20
DEFAULT_SNAPLEN = 65535

BpfProgram = list[tuple[int, int, int, int]]  # (code, jt, jf, k)


class CaptureError(OSError):
    """The capture could not be set up; the message says what to fix."""


def compile_bpf(expr: str, linktype: int = DLT_EN10MB) -> BpfProgram:
    """Compile a pcap filter expression to classic BPF instructions with libpcap.

    ``pcap_open_dead`` through scapy: no privileges and no interface needed.
    """
    try:
        from scapy.arch.common import compile_filter
        from scapy.error import Scapy_Exception
    except ImportError as exc:  # pragma: no cover - scapy is a hard dependency
        raise CaptureError(f"cannot compile capture filter: {exc}") from exc
    try:
        prog = compile_filter(expr, linktype=linktype)
    except ImportError as exc:
        raise CaptureError(
            "cannot compile capture filter: libpcap is not installed "
            "(apt-get install libpcap0.8; deploy/bootstrap.sh installs it)"
        ) from exc
    except Scapy_Exception as exc:
        raise CaptureError(f"cannot compile capture filter {expr!r}: {exc}") from exc
    try:
        return [
            (ins.code, ins.jt, ins.jf, ins.k & 0xFFFFFFFF)
            for ins in (prog.bf_insns[i] for i in range(prog.bf_len))
        ]
    finally:
        from scapy.libs.winpcapy import pcap_freecode

        pcap_freecode(ctypes.byref(prog))


def attach_bpf(sock: socket.socket, prog: BpfProgram) -> None:
    """SO_ATTACH_FILTER: the kernel drops non-matching packets before they are queued."""
    if not prog or len(prog) > 4096:
        raise CaptureError("BPF program must have 1..4096 instructions")
    raw = b"".join(struct.pack("=HBBI", c, jt, jf, k) for c, jt, jf, k in prog)
    insns = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(insns))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@dataclass(slots=True)
class CaptureStats:
    """Totals since the socket was opened (the kernel resets its counters on each read)."""

    received: int = 0  # frames handed to us by recv
    kernel_packets: int = 0  # frames that passed the filter
    kernel_drops: int = 0  # frames the kernel dropped because our buffer was full


class CaptureSocket:
    """AF_PACKET capture on one interface. Needs CAP_NET_RAW.

    Iterating yields ``(timestamp, frame)`` with the kernel's receive timestamp; iteration
    ends only when the socket is closed. :meth:`recv` returns ``None`` after ``timeout``
    seconds without a frame, so a loop can do housekeeping. ``outgoing=False`` skips frames
    this host sends (on the gateway they are the DNS answers and forwarded replies to
    clients, so keep them; on loopback every packet would otherwise appear twice).

    ``rcvbuf`` is the capture buffer in bytes: the size of the TPACKET_V3 ring (``ring``,
    the default; :attr:`mode` says which one is in use) or of the socket queue. A ring hands
    frames over a block at a time, at the latest 50 ms after the first frame in a block.
    """

    def __init__(
        self,
        iface: str,
        bpf: str | BpfProgram | None = DEFAULT_FILTER,
        *,
        rcvbuf: int = DEFAULT_RCVBUF,
        promisc: bool = False,
        snaplen: int = DEFAULT_SNAPLEN,
        timeout: float | None = 0.5,
        outgoing: bool = True,
        ring: bool = True,
    ) -> None:
        self.iface = iface
        self.outgoing = outgoing
        self.snaplen = snaplen
        self.timeout = timeout
        self.stats = CaptureStats()
        try:
            ifindex = socket.if_nametoindex(iface)
        except OSError as exc:
            raise CaptureError(f"no such interface {iface!r}") from exc
        # Protocol 0: the socket receives nothing until bound, so no unfiltered packet can
        # slip in between creating it and attaching the filter.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self._ring: _Ring | None = None
        try:
            if bpf is not None:
                prog = compile_bpf(bpf, DLT_EN10MB) if isinstance(bpf, str) else bpf
                attach_bpf(sock, prog)
            if ring:
                try:
                    self._ring = _Ring(sock, rcvbuf, snaplen)
                except CaptureError as exc:
                    log.warning("%s; using the socket queue instead", exc)
            if self._ring is not None:
                self.rcvbuf = self._ring.size
            else:
                self.rcvbuf = _set_rcvbuf(sock, rcvbuf)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind((iface, ETH_P_ALL))
            if promisc:
                mreq = struct.pack("IHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except BaseException:
            if self._ring is not None:
                self._ring.close()
            sock.close()
            raise
        self._sock = sock
        self._anc = socket.CMSG_SPACE(16)
        self._pending: list[tuple[float, bytes]] = []

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def mode(self) -> str:
        """``ring`` (TPACKET_V3 memory-mapped ring) or ``queue`` (the socket's queue)."""
        return "ring" if self._ring is not None else "queue"

    def close(self) -> None:
        self._sock.close()  # first: a reader blocked in select() wakes up with an error
        if self._ring is not None:
            self._ring.close()

    def __enter__(self) -> CaptureSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recv(self) -> tuple[float, bytes] | None:
        """One frame, or None on timeout. Raises OSError once the socket is closed."""
        if self._ring is not None:
            if not self._pending:
                self._pending = self.recv_batch()
                self._pending.reverse()
            return self._pending.pop() if self._pending else None
        if self.timeout is not None:
            ready, _, _ = select.select([self._sock], [], [], self.timeout)
            if not ready:
                return None
        while True:
            data, anc, _flags, addr = self._sock.recvmsg(self.snaplen, self._anc)
            if self.outgoing or addr[2] != PACKET_OUTGOING:
                break
            if self.timeout is not None:
                ready, _, _ = select.select([self._sock], [], [], self.timeout)
                if not ready:
                    return None
        self.stats.received += 1
        return _timestamp(anc), data

    def recv_batch(self, limit: int = 1024) -> list[tuple[float, bytes]]:
        """Every frame already queued, up to about ``limit``, waiting up to ``timeout`` for
        the first: the loop to use when bursts matter. From a ring, whole blocks are taken
        (the last one may pass ``limit``); from a socket queue, one ``select`` and then
        non-blocking reads until it is empty (a ``select`` per frame, as :meth:`recv` does,
        roughly doubles the cost of a frame). Empty list on timeout."""
        sock = self._sock
        if self._pending:
            left, self._pending = self._pending[::-1], []
            return left
        if self._ring is not None:
            if not self._ring.ready():
                if self.timeout is None:
                    while not self._ring.ready():
                        select.select([sock], [], [], 1.0)
                else:
                    select.select([sock], [], [], self.timeout)
                    if not self._ring.ready():
                        return []
            got = self._ring.take(limit, self.outgoing)
            self.stats.received += len(got)
            return got
        if self.timeout is not None:
            ready, _, _ = select.select([sock], [], [], self.timeout)
            if not ready:
                return []
        recvmsg = sock.recvmsg
        snaplen, anc_size, outgoing = self.snaplen, self._anc, self.outgoing
        out: list[tuple[float, bytes]] = []
        append = out.append
        taken = 0
        while taken < limit:
            try:
                data, anc, _flags, addr = recvmsg(snaplen, anc_size, MSG_DONTWAIT)
            except BlockingIOError:
                break
            taken += 1
            if outgoing or addr[2] != PACKET_OUTGOING:
                append((_timestamp(anc), data))
        self.stats.received += len(out)
        return out

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        while True:
            try:
                batch = self.recv_batch()
            except (OSError, ValueError):  # ValueError: select() on a closed socket
                if self._sock.fileno() == -1:
                    return
                raise
            yield from batch

    def read_stats(self) -> CaptureStats:
        """Fold the kernel's PACKET_STATISTICS (which reset on read) into the totals."""
        # struct tpacket_stats (v1/v2) or tpacket_stats_v3 (one more counter) with a ring.
        size = 12 if self._ring is not None else 8
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, size)
        packets, drops = struct.unpack_from("II", raw)
        self.stats.kernel_packets += packets
        self.stats.kernel_drops += drops
        return CaptureStats(self.stats.received, self.stats.kernel_packets, self.stats.kernel_drops)


class _Ring:
    """A TPACKET_V3 receive ring: the kernel writes frames straight into memory we mapped,
    packed back to back in blocks, and hands over a block at a time (when full, or after
    ``retire_ms``). Compared with one ``recvmsg`` per frame this saves a system call and a
    copy per frame, and a small frame takes ~150 bytes of the ring where a socket queue
    charges it a whole buffer (~1-2 KB of ``rcvbuf``): the same memory absorbs a burst of
    ten times as many DNS queries. Frames larger than a block (256 KiB) are truncated.
    Many small blocks rather than a few big ones: a block is handed over part-full when its
    timer expires, so while the reader is starved, slow traffic still fills only one block
    per ``retire_ms``."""

    def __init__(self, sock: socket.socket, size: int, snaplen: int, retire_ms: int = 50):
        block = RING_BLOCK
        nblocks = max(2, size // block)
        frame = 2048  # a hint for V3 (frames are variable-length); must divide the block
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            req = struct.pack(
                "=IIIIIII", block, nblocks, frame, block // frame * nblocks, retire_ms, 0, 0
            )
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self.mm = mmap.mmap(
                sock.fileno(), block * nblocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as exc:
            raise CaptureError(f"cannot set up a {size >> 20} MB TPACKET_V3 ring: {exc}") from exc
        self.block = block
        self.nblocks = nblocks
        self.size = block * nblocks
        self.snaplen = snaplen
        self.current = 0

    def ready(self) -> bool:
        """Whether the next block is ours to read."""
        return bool(_block_head(self.mm, self.current * self.block + 8)[0] & TP_STATUS_USER)

    def take(self, limit: int, outgoing: bool) -> list[tuple[float, bytes]]:
        """Frames of every block that is ready (whole blocks, until ``limit`` is passed);
        each block goes back to the kernel as soon as its frames are copied out."""
        mm, block, snap = self.mm, self.block, self.snaplen
        out: list[tuple[float, bytes]] = []
        append = out.append
        while len(out) < limit:
            base = self.current * block
            status, count, first = _block_head(mm, base + 8)
            if not status & TP_STATUS_USER:
                break
            pos = base + first
            for _ in range(count):
                nxt, sec, nsec, caplen, _len, _st, mac = _pkt_head(mm, pos)
                if outgoing or mm[pos + _PKT_SLL_PKTTYPE] != PACKET_OUTGOING:
                    start = pos + mac
                    append((sec + nsec / 1e9, mm[start : start + min(caplen, snap)]))
                pos += nxt
            _set_u32(mm, base + 8, 0)  # TP_STATUS_KERNEL: the kernel may fill it again
            self.current = (self.current + 1) % self.nblocks
        return out

    def close(self) -> None:
        try:
            self.mm.close()
        except BufferError:  # pragma: no cover - a reader in another thread; GC unmaps it
            pass


def _timestamp(anc: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive time from SCM_TIMESTAMPNS ancillary data (now if absent)."""
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = _timespec(value)
            return float(sec + nsec / 1e9)
    return time.time()


def _set_rcvbuf(sock: socket.socket, size: int) -> int:
    """SO_RCVBUFFORCE (ignores rmem_max; needs CAP_NET_ADMIN), else SO_RCVBUF (capped by
    net.core.rmem_max). Returns what the kernel granted (it reports double the request)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


# ------------------------------------------------------------------------ interfaces


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    name: str
    mac: str | None
    ipv4: tuple[str, ...]  # CIDR text, e.g. "198.51.100.1/24"
    ipv6: tuple[str, ...]


def list_interfaces() -> list[InterfaceInfo]:
    """Interfaces and their addresses (netifaces), for choosing the chamber interface."""
    out: list[InterfaceInfo] = []
    link = getattr(netifaces, "AF_PACKET", getattr(netifaces, "AF_LINK", 17))
    for name in netifaces.interfaces():
        addrs = netifaces.ifaddresses(name)
        mac = next((a.get("addr") for a in addrs.get(link, []) if a.get("addr")), None)
        v4 = tuple(_cidr(a["addr"], a.get("netmask")) for a in addrs.get(netifaces.AF_INET, []))
        v6 = tuple(
            _cidr(a["addr"].split("%")[0], a.get("netmask"))
            for a in addrs.get(netifaces.AF_INET6, [])
        )
        out.append(InterfaceInfo(name, mac, v4, v6))
    return out


def _cidr(addr: str, netmask: str | None) -> str:
    if not netmask:
        return addr
    mask = netmask.split("/")[-1] if "/" in netmask else netmask
    try:
        return str(ipaddress.ip_interface(f"{addr}/{mask}"))
    except ValueError:
        return addr


def interface_networks(iface: str) -> tuple[str, ...]:
    """The subnets configured on ``iface``: a sensible ``chamber_networks`` default."""
    for info in list_interfaces():
        if info.name == iface:
            nets = []
            for cidr in info.ipv4 + info.ipv6:
                if "/" in cidr:
                    nets.append(str(ipaddress.ip_interface(cidr).network))
            return tuple(dict.fromkeys(nets))
    raise CaptureError(f"no such interface {iface!r}")


def can_capture() -> bool:
    """True if this process may open AF_PACKET sockets (root or CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return False
    except OSError:
        return os.geteuid() == 0
    return True
