"""TLS ClientHello builder shaped like current browsers: shuffled extensions, GREASE, and an
optional post-quantum key share big enough to push the hello past one segment."""

from __future__ import annotations

import random
import struct

GREASE = [0x0A0A + 0x1010 * i for i in range(16)]
X25519 = 0x001D
X25519MLKEM768 = 0x11EC


def _ext(etype: int, body: bytes) -> bytes:
    return struct.pack("!HH", etype, len(body)) + body


def _vec16(body: bytes) -> bytes:
    return struct.pack("!H", len(body)) + body


def server_name(sni: str | bytes) -> bytes:
    raw = sni.encode("ascii") if isinstance(sni, str) else sni
    return _vec16(b"\x00" + _vec16(raw))


def client_hello(
    sni: str | bytes | None,
    *,
    pq_key_share: bool = False,
    grease: bool = True,
    seed: int = 0,
    sni_last: bool = False,
    sni_first: bool = False,
    padding_ext: int = 0,
) -> bytes:
    """A handshake-layer ClientHello (type 1, 24-bit length, body).

    ``pq_key_share`` adds an X25519MLKEM768 share (1216 bytes) as Chrome/Firefox do;
    ``sni_last`` puts server_name after the key share so it is only complete in the second
    segment of a split hello; ``padding_ext`` adds an RFC 7685 padding extension.
    """
    rng = random.Random(seed)
    g1, g2, g3 = rng.sample(GREASE, 3)
    shares = b""
    if grease:
        shares += struct.pack("!HH", g1, 1) + b"\x00"
    if pq_key_share:
        shares += struct.pack("!HH", X25519MLKEM768, 1216) + rng.randbytes(1216)
    shares += struct.pack("!HH", X25519, 32) + rng.randbytes(32)
    groups = (
        ([g1] if grease else [])
        + ([X25519MLKEM768] if pq_key_share else [])
        + [
            X25519,
            0x0017,
            0x0018,
        ]
    )
    exts = [
        _ext(0x000A, _vec16(b"".join(struct.pack("!H", g) for g in groups))),
        _ext(0x0033, _vec16(shares)),
        _ext(0x002B, bytes([4]) + struct.pack("!HH", 0x0304, 0x0303)),
        _ext(0x000D, _vec16(struct.pack("!4H", 0x0403, 0x0804, 0x0401, 0x0503))),
        _ext(0x0010, _vec16(b"\x02h2\x08http/1.1")),
        _ext(0x0017, b""),
        _ext(0xFF01, b"\x00"),
        _ext(0x002D, b"\x01\x01"),
        _ext(0x001B, b"\x02\x00\x02"),
    ]
    if pq_key_share:
        exts.append(_ext(0xFE0D, rng.randbytes(250)))  # GREASE encrypted_client_hello
    if sni is not None and not sni_last and not sni_first:
        exts.append(_ext(0x0000, server_name(sni)))
    rng.shuffle(exts)  # Chrome randomises extension order
    if sni is not None and sni_first:
        exts.insert(0, _ext(0x0000, server_name(sni)))
    if grease:
        exts.insert(0, _ext(g2, b""))
        exts.append(_ext(g3, b"\x00"))
    if sni is not None and sni_last:
        exts.append(_ext(0x0000, server_name(sni)))
    if padding_ext:
        exts.append(_ext(0x0015, bytes(padding_ext)))
    suites = ([g1] if grease else []) + [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F]
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _vec16(b"".join(struct.pack("!H", s) for s in suites))
        + b"\x01\x00"
        + _vec16(b"".join(exts))
    )
    return b"\x01" + len(body).to_bytes(3, "big") + body


def records(handshake: bytes, max_fragment: int = 16384) -> bytes:
    """Wrap handshake bytes in TLS records of at most ``max_fragment`` bytes each."""
    out = b""
    for i in range(0, len(handshake), max_fragment):
        frag = handshake[i : i + max_fragment]
        out += b"\x16\x03\x01" + struct.pack("!H", len(frag)) + frag
    return out
