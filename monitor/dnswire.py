"""A lean DNS message codec (sans-io) for the gate's hot path and the passive monitor.

A general-purpose DNS library made the gate ~4x slower than dnsmasq (issue #4); the gate only
needs the question, the answer addresses and their TTL offsets, and a way to say NXDOMAIN.
Everything here works on ``bytes`` and raises :class:`DnsError` on garbage.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from allowlist.names import wire_label

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_SVCB = 64
TYPE_HTTPS = 65
CLASS_IN = 1

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5

_HDR = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_MAX_POINTERS = 32


class DnsError(ValueError):
    """Not a well-formed DNS message; the reason is for counters and logs, never for users."""


@dataclass(frozen=True, slots=True)
class Question:
    name: str  # canonical (allowlist.names.wire_name), no trailing dot ("" for the root)
    qtype: int
    qclass: int


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes
    ttl_offset: int  # where the TTL sits in the message, for clamping in place
    target: str | None = None  # CNAME target, decoded

    @property
    def address(self) -> str | None:
        if self.rtype == TYPE_A and len(self.rdata) == 4:
            return str(ipaddress.IPv4Address(self.rdata))
        if self.rtype == TYPE_AAAA and len(self.rdata) == 16:
            return str(ipaddress.IPv6Address(self.rdata))
        return None


@dataclass(slots=True)
class Message:
    qid: int
    flags: int
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def read_name(buf: bytes, off: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at ``off``; return it and the offset after it.

    The name comes out in the one canonical printable form (:func:`allowlist.names.wire_name`):
    a label byte that is not a lower-case letter, digit, ``-`` or ``_`` is escaped, so no
    NUL, control, quote or dot-inside-a-label ever reaches the evidence."""
    labels: list[str] = []
    end = -1
    jumps = 0
    n = len(buf)
    total = 0
    while True:
        if off >= n:
            raise DnsError("name runs past the end")
        ln = buf[off]
        if ln == 0:
            off += 1
            break
        if ln & 0xC0 == 0xC0:
            if off + 1 >= n:
                raise DnsError("truncated compression pointer")
            ptr = ((ln & 0x3F) << 8) | buf[off + 1]
            if end < 0:
                end = off + 2
            jumps += 1
            if jumps > _MAX_POINTERS or ptr >= n:
                raise DnsError("compression pointer loop or out of range")
            off = ptr
            continue
        if ln & 0xC0:
            raise DnsError("reserved label type")
        off += 1
        if off + ln > n:
            raise DnsError("label runs past the end")
        raw = buf[off : off + ln]
        total += ln + 1
        if total > 255:
            raise DnsError("name longer than 255 octets")
        labels.append(wire_label(raw))
        off += ln
    return ".".join(labels), (end if end >= 0 else off)


def _read_records(buf: bytes, off: int, count: int) -> tuple[list[Record], int]:
    out: list[Record] = []
    n = len(buf)
    for _ in range(count):
        name, off = read_name(buf, off)
        if off + 10 > n:
            raise DnsError("truncated resource record")
        rtype, rclass, ttl, rdlen = _RR.unpack_from(buf, off)
        ttl_offset = off + 4
        off += 10
        if off + rdlen > n:
            raise DnsError("rdata runs past the end")
        target = read_name(buf, off)[0] if rtype == TYPE_CNAME else None
        out.append(
            Record(name, rtype, rclass, ttl, bytes(buf[off : off + rdlen]), ttl_offset, target)
        )
        off += rdlen
    return out, off


def parse_message(buf: bytes) -> Message:
    """Parse a whole message (header, questions, all sections)."""
    if len(buf) < 12:
        raise DnsError("shorter than a DNS header")
    qid, flags, qd, an, ns, ar = _HDR.unpack_from(buf, 0)
    if qd > 16 or an + ns + ar > 512:
        raise DnsError("implausible section counts")
    msg = Message(qid, flags)
    off = 12
    for _ in range(qd):
        name, off = read_name(buf, off)
        if off + 4 > len(buf):
            raise DnsError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", buf, off)
        off += 4
        msg.questions.append(Question(name, qtype, qclass))
    msg.answers, off = _read_records(buf, off, an)
    msg.authority, off = _read_records(buf, off, ns)
    msg.additional, off = _read_records(buf, off, ar)
    return msg


@dataclass(frozen=True, slots=True)
class Query:
    """What the gate needs of a client query, parsed without touching the other sections."""

    qid: int
    flags: int
    name: str
    qtype: int
    qclass: int
    question_end: int


def parse_query(buf: bytes) -> Query:
    """Fast path for client queries: exactly one question, opcode QUERY, QR clear."""
    if len(buf) < 17:
        raise DnsError("too short for a query")
    qid, flags, qd = struct.unpack_from("!HHH", buf, 0)
    if flags & 0x8000:
        raise DnsError("a response, not a query")
    if (flags >> 11) & 0xF != 0:
        raise DnsError("opcode is not QUERY")
    if qd != 1:
        raise DnsError("query must have exactly one question")
    name, off = read_name(buf, 12)
    if off + 4 > len(buf):
        raise DnsError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", buf, off)
    return Query(qid, flags, name, qtype, qclass, off + 4)


def make_error(query: bytes, rcode: int, question_end: int | None = None) -> bytes:
    """A response to ``query`` with ``rcode`` and no records (NXDOMAIN, REFUSED, SERVFAIL…).

    Copies the question when we could parse it (clients match answers on it), echoes RD,
    sets RA. FORMERR for unparseable input carries just the header.
    """
    if len(query) < 12:
        raise DnsError("no header to answer")
    qid, flags = struct.unpack_from("!HH", query, 0)
    rd = flags & 0x0100
    out_flags = 0x8000 | (flags & 0x7800) | rd | 0x0080 | (rcode & 0xF)
    if question_end is None:
        return _HDR.pack(qid, out_flags, 0, 0, 0, 0)
    return _HDR.pack(qid, out_flags, 1, 0, 0, 0) + query[12:question_end]


def make_address_answer(query: Query, raw: bytes, address: str, ttl: int) -> bytes:
    """Answer a query with one A/AAAA record (the configurable block-page address)."""
    ip = ipaddress.ip_address(address)
    rtype = TYPE_A if ip.version == 4 else TYPE_AAAA
    rd = query.flags & 0x0100
    hdr = _HDR.pack(query.qid, 0x8000 | rd | 0x0080, 1, 1 if query.qtype == rtype else 0, 0, 0)
    out = hdr + raw[12 : query.question_end]
    if query.qtype == rtype:
        out += b"\xc0\x0c" + _RR.pack(rtype, CLASS_IN, ttl, len(ip.packed)) + ip.packed
    return out


def clamp_ttls(buf: bytes, records: list[Record], max_ttl: int) -> bytes:
    """Rewrite TTLs above ``max_ttl`` in place, so policy changes reach clients quickly."""
    if not any(r.ttl > max_ttl for r in records):
        return buf
    out = bytearray(buf)
    for r in records:
        if r.ttl > max_ttl and r.rtype != TYPE_OPT:
            struct.pack_into("!I", out, r.ttl_offset, max_ttl)
    return bytes(out)


def encode_name(name: str) -> bytes:
    out = bytearray()
    if name:
        for label in name.split("."):
            b = label.encode("ascii")
            if not 0 < len(b) < 64:
                raise DnsError("bad label length")
            out.append(len(b))
            out += b
    out.append(0)
    return bytes(out)


def make_query(name: str, qtype: int = TYPE_A, qid: int = 0, rd: bool = True) -> bytes:
    """Build a simple query (tests, health probes, benchmarks)."""
    return (
        _HDR.pack(qid, 0x0100 if rd else 0, 1, 0, 0, 0)
        + encode_name(name)
        + struct.pack("!HH", qtype, CLASS_IN)
    )
