"""Writes the kept seed corpus for the sanitizer fuzz run of ``_fastgate.c`` (run once; the
files are committed). Queries (``q-*``) and upstream answers (``a-*``): ordinary ones, and
the shapes that stress a DNS parser — compression pointers (forward, looping, out of range),
names at the 255-octet limit, labels with every kind of byte, truncated records, EDNS, many
records, a record whose RDLENGTH runs past the end.

    python -m tests.gate.fuzz.make_corpus
"""

from __future__ import annotations

import struct
from pathlib import Path

HERE = Path(__file__).parent / "corpus"


def header(qid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0,
           ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"


def question(n: bytes, qtype: int = 1) -> bytes:
    return n + struct.pack("!HH", qtype, 1)


def rr(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


PTR = b"\xc0\x0c"  # the question's name
WWW = name(b"www", b"example", b"gov", b"uk")
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)

SEEDS: dict[str, bytes] = {
    "q-plain": header() + question(WWW),
    "q-aaaa": header() + question(WWW, 28),
    "q-https": header() + question(WWW, 65),
    "q-upper": header() + question(name(b"WWW", b"FaceBook", b"COM")),
    "q-root": header() + question(b"\x00"),
    "q-edns": header(ar=1) + question(WWW) + OPT,
    "q-hostile-bytes": header() + question(name(b"x\x00\x1b[31m<\"'\r\n", b"a.b", b"\\",
                                                b"\xc3\xa9", b"facebook", b"com")),
    "q-long-name": header() + question(name(*[b"a" * 63] * 3, b"b" * 61)),
    "q-too-long": header() + question(name(*[b"a" * 63] * 4, b"b" * 10)),
    "q-pointer-self": header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
    "q-pointer-forward": header() + b"\xc0\x12" + struct.pack("!HH", 1, 1) + name(b"x"),
    "q-pointer-out": header() + b"\xff\xff" + struct.pack("!HH", 1, 1),
    "q-reserved-label": header() + b"\x80abc\x00" + struct.pack("!HH", 1, 1),
    "q-truncated": header() + b"\x3fabc",
    "q-two-questions": header(qd=2) + question(WWW) + question(WWW),
    "q-response-bit": header(flags=0x8180) + question(WWW),
    "q-opcode": header(flags=0x2800) + question(WWW),
    "q-short": header()[:11],
    "q-max-labels": header() + question(name(*[b"a"] * 127)),
}

_Q = header() + question(WWW)
_A4 = rr(PTR, 1, 3600, bytes([203, 0, 113, 10]))
_A6 = rr(PTR, 28, 30, bytes.fromhex("20010db8000000000000000000000001"))
_CNAME = rr(PTR, 5, 300, name(b"cdn", b"example", b"net"))
SEEDS.update({
    "a-one-a": header(flags=0x8180, an=1) + question(WWW) + _A4,
    "a-a-and-aaaa": header(flags=0x8180, an=2) + question(WWW) + _A4 + _A6,
    "a-cname-chain": header(flags=0x8180, an=3) + question(WWW) + _CNAME
    + rr(b"\xc0\x2b", 5, 60, name(b"edge", b"example", b"net"))
    + rr(b"\xc0\x3f", 1, 20, bytes([198, 51, 100, 7])),
    "a-authority-soa": header(flags=0x8183, ns=1) + question(WWW)
    + rr(PTR, 6, 900, name(b"ns") + name(b"host") + struct.pack("!IIIII", 1, 2, 3, 4, 5)),
    "a-edns": header(flags=0x8180, an=1, ar=1) + question(WWW) + _A4 + OPT,
    "a-many": header(flags=0x8180, an=200) + question(WWW) + _A4 * 200,
    "a-rdlen-past-end": header(flags=0x8180, an=1) + question(WWW)
    + PTR + struct.pack("!HHIH", 1, 1, 60, 400) + b"\x01\x02",
    "a-cname-loop": header(flags=0x8180, an=1) + question(WWW)
    + PTR + struct.pack("!HHIH", 5, 1, 60, 2) + b"\xc0\x00",
    "a-counts-lie": header(flags=0x8180, an=65535, ns=65535, ar=65535) + question(WWW) + _A4,
    "a-qd-many": header(flags=0x8180, qd=17) + question(WWW) * 17,
    "a-wrong-rdlen-a": header(flags=0x8180, an=1) + question(WWW)
    + rr(PTR, 1, 60, b"\x01\x02\x03"),
    "a-servfail": header(flags=0x8182) + question(WWW),
    "a-ttl-max": header(flags=0x8180, an=1) + question(WWW)
    + rr(PTR, 1, 0xFFFFFFFF, bytes([203, 0, 113, 11])),
})


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for key, data in SEEDS.items():
        (HERE / f"{key}.bin").write_bytes(data)
    (HERE / "q-for-answers.bin").write_bytes(_Q)
    print(f"{len(SEEDS) + 1} seeds in {HERE}")


if __name__ == "__main__":
    main()
