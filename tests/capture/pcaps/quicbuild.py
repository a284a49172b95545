"""The sending side of QUIC Initial protection (RFC 9001 §5), for building test packets.

Key derivation is monitor.capture.quic.initial_keys (checked against the RFC key vectors);
the packet protection is written here separately from the receiving side, and the tests check
it reproduces the RFC 9001 / RFC 9369 Appendix A client Initial byte for byte.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from monitor.capture.quic import QUIC_V1, VERSIONS, initial_keys


def varint(v: int) -> bytes:
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack("!H", 0x4000 | v)
    if v < 0x40000000:
        return struct.pack("!I", 0x80000000 | v)
    return struct.pack("!Q", 0xC000000000000000 | v)


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def protect_initial(
    frames: bytes,
    dcid: bytes,
    *,
    version: int = QUIC_V1,
    scid: bytes = b"",
    pn: int = 0,
    pn_len: int = 4,
    token: bytes = b"",
    pad_to: int | None = 1200,
) -> bytes:
    """A protected client Initial carrying ``frames`` (zero-padded so the packet reaches
    ``pad_to`` bytes, the minimum a client datagram must have)."""
    keys = initial_keys(dcid, version)
    itype = VERSIONS[version].initial_type
    first = 0xC0 | (itype << 4) | (pn_len - 1)
    head = (
        bytes([first])
        + struct.pack("!I", version)
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + varint(len(token))
        + token
    )
    plain = frames
    if pad_to is not None:
        # header + 2-byte length + pn + plaintext + 16-byte tag
        short = pad_to - (len(head) + 2 + pn_len + len(plain) + 16)
        if short > 0:
            plain += bytes(short)
    length = pn_len + len(plain) + 16
    header = head + struct.pack("!H", 0x4000 | length) + pn.to_bytes(pn_len, "big")
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(keys.key).encrypt(nonce, plain, header)
    pkt = bytearray(header + sealed)
    pn_off = len(header) - pn_len
    sample = bytes(pkt[pn_off + 4 : pn_off + 20])
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    pkt[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        pkt[pn_off + i] ^= mask[1 + i]
    return bytes(pkt)
