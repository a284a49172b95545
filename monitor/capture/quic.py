"""SNI from QUIC v1 (RFC 9000/9001) and v2 (RFC 9369) client Initial packets.

Initial packets are encrypted, but with keys anyone can derive from the client's Destination
Connection ID (RFC 9001 §5.2) — deliberately: they protect against off-path tampering, not
observation. So an on-path monitor can remove header protection, decrypt, read the CRYPTO
frames and parse the ClientHello inside. Modern browsers need two Initial packets for one
ClientHello (post-quantum key shares) and Chrome shuffles CRYPTO frames and sprinkles PING and
PADDING between them, so CRYPTO data is reassembled per connection (keyed by DCID) in a
bounded table with a timeout.

Pure: bytes in, names out. Uses the ``cryptography`` package for AES-GCM, AES-ECB and HKDF.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from monitor.capture.reassembly import StreamBuffer
from monitor.capture.tls import NEED_MORE, TlsStatus, sni_from_handshake

QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF

FRAME_PADDING = 0x00
FRAME_PING = 0x01
FRAME_ACK = 0x02
FRAME_ACK_ECN = 0x03
FRAME_CRYPTO = 0x06

MAX_CID = 20
MIN_INITIAL_DATAGRAM = 1200
_V1_BYTES = QUIC_V1.to_bytes(4, "big")
_V2_BYTES = QUIC_V2.to_bytes(4, "big")
_NONZERO = re.compile(rb"[^\x00]")


@dataclass(frozen=True, slots=True)
class VersionParams:
    """What differs between QUIC versions for Initial packets."""

    salt: bytes
    key_label: bytes
    iv_label: bytes
    hp_label: bytes
    initial_type: int  # the two long-header type bits that mean "Initial"


VERSIONS: dict[int, VersionParams] = {
    QUIC_V1: VersionParams(
        salt=bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
        key_label=b"quic key",
        iv_label=b"quic iv",
        hp_label=b"quic hp",
        initial_type=0b00,
    ),
    QUIC_V2: VersionParams(
        salt=bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
        key_label=b"quicv2 key",
        iv_label=b"quicv2 iv",
        hp_label=b"quicv2 hp",
        initial_type=0b01,
    ),
}


class QuicError(ValueError):
    """A datagram that is not a QUIC Initial we can read; ``reason`` is a counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------------------ keys


_sha256 = hashlib.sha256
_hmac_new = hmac.new
try:
    # OpenSSL's HMAC object, which hmac.new wraps in a Python class: half the cost per call.
    from _hashlib import hmac_new as _openssl_hmac_new

    def _hmac_sha256(key: bytes, msg: bytes | None = None) -> Any:
        return _openssl_hmac_new(key, msg or b"", "sha256")

    _hmac_sha256(b"k", b"m").copy()  # this build supports it
except (ImportError, ValueError, TypeError, AttributeError):  # pragma: no cover

    def _hmac_sha256(key: bytes, msg: bytes | None = None) -> Any:
        return _hmac_new(key, msg, _sha256)


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract with SHA-256 (RFC 5869 §2.2): an HMAC keyed by the salt."""
    return _hmac_new(salt, ikm, _sha256).digest()


def _label_info(label: bytes, context: bytes, length: int) -> bytes:
    """The HkdfLabel structure (RFC 8446 §7.1) followed by HKDF-Expand's first counter."""
    full = b"tls13 " + label
    return length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context


def hkdf_expand_label(secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with SHA-256.

    HKDF-Expand (RFC 5869 §2.3) by hand: T(i) = HMAC(secret, T(i-1) | info | i). One HMAC
    for the ≤ 32-byte outputs QUIC needs, ~10× cheaper than building an HKDFExpand object.
    """
    if length > 255 * 32:
        raise ValueError("HKDF-Expand output too long")
    info = _label_info(label, context, length)
    out = b""
    block = b""
    i = 0
    while len(out) < length:
        i += 1
        block = _hmac_new(secret, block + info + bytes([i]), _sha256).digest()
        out += block
    return out[:length]


def initial_secrets(dcid: bytes, version: int) -> tuple[bytes, bytes]:
    """(client_initial_secret, server_initial_secret) for a connection (RFC 9001 §5.2)."""
    params = VERSIONS[version]
    initial = hkdf_extract(params.salt, dcid)
    return (
        hkdf_expand_label(initial, b"client in", b"", 32),
        hkdf_expand_label(initial, b"server in", b"", 32),
    )


class InitialKeys:
    """AEAD key, IV and header-protection key for one direction, with ready cipher objects."""

    __slots__ = ("key", "iv", "hp", "aead", "_hp_ctx", "_iv_int")

    def __init__(self, key: bytes, iv: bytes, hp: bytes) -> None:
        self.key = key
        self.iv = iv
        self._iv_int = int.from_bytes(iv, "big")
        self.hp = hp
        self.aead = AESGCM(key)
        # ECB is stateless per block, so one encryptor serves every mask computation.
        self._hp_ctx: CipherContext = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()

    @classmethod
    def from_secret(cls, secret: bytes, version: int) -> InitialKeys:
        p = VERSIONS[version]
        return cls(
            hkdf_expand_label(secret, p.key_label, b"", 16),
            hkdf_expand_label(secret, p.iv_label, b"", 12),
            hkdf_expand_label(secret, p.hp_label, b"", 16),
        )

    def mask(self, sample: bytes) -> bytes:
        """Header-protection mask (RFC 9001 §5.4.3): AES-ECB of the 16-byte sample."""
        return self._hp_ctx.update(sample)

    def nonce(self, pn: int) -> bytes:
        return (self._iv_int ^ pn).to_bytes(12, "big")


class _Deriver:
    """Per-version precomputation for :func:`initial_keys`: an HMAC keyed by the salt (copied
    per DCID rather than re-keyed) and the fixed HkdfLabel blocks of the four expansions."""

    __slots__ = ("extract", "client_in", "server_in", "key", "iv", "hp")

    def __init__(self, p: VersionParams) -> None:
        self.extract = _hmac_sha256(p.salt)
        self.client_in = _label_info(b"client in", b"", 32) + b"\x01"
        self.server_in = _label_info(b"server in", b"", 32) + b"\x01"
        self.key = _label_info(p.key_label, b"", 16) + b"\x01"
        self.iv = _label_info(p.iv_label, b"", 12) + b"\x01"
        self.hp = _label_info(p.hp_label, b"", 16) + b"\x01"


_DERIVERS = {v: _Deriver(p) for v, p in VERSIONS.items()}


def initial_keys(dcid: bytes, version: int, server: bool = False) -> InitialKeys:
    """Keys protecting the client's (default) or server's Initial packets.

    Same derivation as :func:`initial_secrets` + :meth:`InitialKeys.from_secret`, with every
    HKDF step a single HMAC (all outputs are ≤ one SHA-256 block).
    """
    d = _DERIVERS[version]
    h = d.extract.copy()
    h.update(dcid)
    initial = h.digest()
    secret = _hmac_sha256(initial, d.server_in if server else d.client_in).digest()
    base = _hmac_sha256(secret)
    h = base.copy()
    h.update(d.key)
    key = h.digest()[:16]
    h = base.copy()
    h.update(d.iv)
    iv = h.digest()[:12]
    base.update(d.hp)
    return InitialKeys(key, iv, base.digest()[:16])


def looks_like_client_initial(data: bytes) -> bool:
    """Cheap pre-filter, no crypto: could ``data`` (a UDP payload) be a client's first
    flight? A long header of the Initial type for QUIC v1 or v2, in a datagram of at least
    the 1200 bytes RFC 9000 §14.1 requires clients to pad Initials to. Everything else sent
    to port 443 (1-RTT short headers: the bulk of QUIC traffic; 0-RTT; Handshake; unknown
    versions) is rejected before any key derivation or decryption."""
    if len(data) < MIN_INITIAL_DATAGRAM:
        return False
    first = data[0]
    if not first & 0x80:
        return False
    version = data[1:5]
    if version == _V1_BYTES:
        return first & 0x30 == 0x00
    if version == _V2_BYTES:
        return first & 0x30 == 0x10
    return False


# --------------------------------------------------------------------------- packets


def read_varint(b: bytes, pos: int, end: int) -> tuple[int, int]:
    """RFC 9000 §16 variable-length integer at ``pos``; returns (value, next position)."""
    if pos >= end:
        raise QuicError("truncated_varint")
    first = b[pos]
    size = 1 << (first >> 6)
    if pos + size > end:
        raise QuicError("truncated_varint")
    value = first & 0x3F
    for i in range(pos + 1, pos + size):
        value = (value << 8) | b[i]
    return value, pos + size


class InitialPacket:
    """A decrypted Initial packet: header fields and the plaintext frames."""

    __slots__ = ("version", "dcid", "scid", "token", "pn", "payload")

    def __init__(
        self, version: int, dcid: bytes, scid: bytes, token: bytes, pn: int, payload: bytes
    ) -> None:
        self.version = version
        self.dcid = dcid
        self.scid = scid
        self.token = token
        self.pn = pn
        self.payload = payload


class LongHeader:
    """Parsed (still protected) long header: enough to decrypt or to skip the packet."""

    __slots__ = ("version", "is_initial", "dcid", "scid", "token", "pn_offset", "end")

    def __init__(self) -> None:
        self.version = 0
        self.is_initial = False
        self.dcid = b""
        self.scid = b""
        self.token = b""
        self.pn_offset = 0
        self.end = 0


def parse_long_header(b: bytes, pos: int) -> LongHeader | None:
    """Header of the long-header packet at ``pos``; None where the datagram has no more
    packets we can walk (short header, version negotiation, Retry, unknown version)."""
    n = len(b)
    if pos >= n or not b[pos] & 0x80:
        return None
    if pos + 7 > n:
        raise QuicError("short_header")
    first = b[pos]
    version = int.from_bytes(b[pos + 1 : pos + 5], "big")
    params = VERSIONS.get(version)
    if params is None:
        return None  # version negotiation (0) or a version we cannot decrypt
    h = LongHeader()
    h.version = version
    p = pos + 5
    dlen = b[p]
    if dlen > MAX_CID or p + 1 + dlen + 1 > n:
        raise QuicError("bad_cid")
    h.dcid = bytes(b[p + 1 : p + 1 + dlen])
    p += 1 + dlen
    slen = b[p]
    if slen > MAX_CID or p + 1 + slen > n:
        raise QuicError("bad_cid")
    h.scid = bytes(b[p + 1 : p + 1 + slen])
    p += 1 + slen
    ptype = (first >> 4) & 0x03
    h.is_initial = ptype == params.initial_type
    retry = 0b11 if version == QUIC_V1 else 0b00
    if ptype == retry:
        return None  # Retry has no Length field; nothing after it is ours
    if h.is_initial:
        tlen, p = read_varint(b, p, n)
        if p + tlen > n:
            raise QuicError("bad_token")
        h.token = bytes(b[p : p + tlen])
        p += tlen
    length, p = read_varint(b, p, n)
    h.pn_offset = p
    h.end = p + length
    if h.end > n:
        raise QuicError("bad_length")
    return h


def decrypt_initial(b: bytes, pos: int, h: LongHeader, keys: InitialKeys) -> InitialPacket:
    """Remove header protection and open the AEAD of the Initial packet at ``pos``."""
    pn_off = h.pn_offset
    if pn_off + 4 + 16 > h.end:
        raise QuicError("short_packet")
    mask = keys.mask(bytes(b[pn_off + 4 : pn_off + 20]))
    first = b[pos] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn = 0
    for i in range(pn_len):
        pn = (pn << 8) | (b[pn_off + i] ^ mask[1 + i])
    header = bytearray(b[pos : pn_off + pn_len])
    header[0] = first
    header[pn_off - pos :] = pn.to_bytes(pn_len, "big")
    try:
        plain = keys.aead.decrypt(keys.nonce(pn), bytes(b[pn_off + pn_len : h.end]), bytes(header))
    except InvalidTag:
        raise QuicError("decrypt_failed") from None
    return InitialPacket(h.version, h.dcid, h.scid, h.token, pn, plain)


def crypto_frames(payload: bytes) -> list[tuple[int, bytes]]:
    """(offset, data) of every CRYPTO frame, walking PADDING, PING and ACK frames.

    Any other frame type ends the walk: we cannot know its length without parsing it, and
    the ClientHello is all we want, so stopping early is safe (never a wrong offset).
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    n = len(payload)
    # Clients pad Initials to 1200 bytes with PADDING frames (zero bytes), mostly at the end:
    # find where the trailing run starts once, in C, rather than scanning it with a regex.
    body = len(payload.rstrip(b"\x00"))
    while pos < n:
        t = payload[pos]
        if t == FRAME_PADDING:
            if pos >= body:
                break
            m = _NONZERO.search(payload, pos, body)
            if m is None:  # pragma: no cover - body ends with a non-zero byte
                break
            pos = m.start()
        elif t == FRAME_PING:
            pos += 1
        elif t == FRAME_CRYPTO:
            off, pos = read_varint(payload, pos + 1, n)
            ln, pos = read_varint(payload, pos, n)
            if pos + ln > n:
                raise QuicError("bad_crypto_frame")
            out.append((off, payload[pos : pos + ln]))
            pos += ln
        elif t == FRAME_ACK or t == FRAME_ACK_ECN:
            _largest, pos = read_varint(payload, pos + 1, n)
            _delay, pos = read_varint(payload, pos, n)
            count, pos = read_varint(payload, pos, n)
            _first, pos = read_varint(payload, pos, n)
            if count > n:
                raise QuicError("bad_ack_frame")
            for _ in range(count * 2 + (3 if t == FRAME_ACK_ECN else 0)):
                _v, pos = read_varint(payload, pos, n)
        else:
            break
    return out


# --------------------------------------------------------------------------- tracker


@dataclass(slots=True)
class QuicStats:
    datagrams: int = 0
    initials: int = 0
    decrypted: int = 0
    decrypt_failed: int = 0
    other_packets: int = 0  # 0-RTT/Handshake or unknown versions: not readable here
    sni: int = 0
    no_sni: int = 0
    not_tls: int = 0
    evicted: int = 0
    overflowed: int = 0


class _Conn:
    __slots__ = ("stream", "last_seen")

    def __init__(self, cap: int, ts: float) -> None:
        self.stream: StreamBuffer | None = StreamBuffer(cap)
        self.last_seen = ts


class QuicSniTracker:
    """Reassembles client CRYPTO streams across Initial packets; yields each SNI once.

    Bounded: at most ``max_conns`` connections of at most ``max_bytes`` of CRYPTO data each,
    idle ones dropped after ``timeout`` seconds. A connection whose name was found stays as a
    buffer-less tombstone so retransmissions are not decrypted again.
    """

    def __init__(
        self,
        max_conns: int = 1024,
        max_bytes: int = 16384,
        timeout: float = 10.0,
        key_cache: int = 256,
    ) -> None:
        self.max_conns = max_conns
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.key_cache = key_cache
        self._conns: OrderedDict[bytes, _Conn] = OrderedDict()
        self._keys: OrderedDict[tuple[bytes, int], InitialKeys] = OrderedDict()
        self.stats = QuicStats()

    def __len__(self) -> int:
        return len(self._conns)

    def _keys_for(self, dcid: bytes, version: int) -> InitialKeys:
        k = (dcid, version)
        keys = self._keys.get(k)
        if keys is None:
            keys = initial_keys(dcid, version)
            self._keys[k] = keys
            if len(self._keys) > self.key_cache:
                self._keys.popitem(last=False)
        return keys

    def expire(self, now: float) -> None:
        conns = self._conns
        limit = now - self.timeout
        while conns:
            key, conn = next(iter(conns.items()))
            if conn.last_seen >= limit:
                break
            del conns[key]

    def datagram(self, ts: float, data: bytes) -> list[str]:
        """Feed one client→server UDP payload; return names completed by it (usually 0 or 1).

        Raises :class:`QuicError` if the first packet's header is malformed (the caller
        counts it); junk after valid coalesced packets just ends the walk. Undecryptable
        packets (not an Initial for these keys) are counted here and skipped.
        """
        self.stats.datagrams += 1
        self.expire(ts)
        names: list[str] = []
        pos = 0
        n = len(data)
        while pos < n:
            try:
                h = parse_long_header(data, pos)
            except QuicError:
                if pos == 0:
                    raise
                break  # trailing junk after coalesced packets: keep what was read
            if h is None:
                break
            if h.is_initial:
                self.stats.initials += 1
                name = self._initial(ts, data, pos, h)
                if name is not None:
                    names.append(name)
            else:
                self.stats.other_packets += 1
            pos = h.end
        return names

    def _initial(self, ts: float, data: bytes, pos: int, h: LongHeader) -> str | None:
        key = h.dcid + h.version.to_bytes(4, "big")
        conns = self._conns
        conn = conns.get(key)
        if conn is not None:
            conn.last_seen = ts
            conns.move_to_end(key)
            if conn.stream is None:
                return None  # already done with this connection
        try:
            pkt = decrypt_initial(data, pos, h, self._keys_for(h.dcid, h.version))
        except QuicError:
            self.stats.decrypt_failed += 1
            return None
        self.stats.decrypted += 1
        frames = crypto_frames(pkt.payload)
        if not frames:
            return None
        if conn is None:
            while len(conns) >= self.max_conns:
                conns.popitem(last=False)
                self.stats.evicted += 1
            conn = _Conn(self.max_bytes, ts)
            conns[key] = conn
        stream = conn.stream
        assert stream is not None
        grew = False
        for off, chunk in frames:
            grew |= stream.add(off, chunk)
        if not grew:
            return None
        res = sni_from_handshake(stream.prefix())
        if res is NEED_MORE:
            if stream.prefix_len >= self.max_bytes or len(stream.ranges) > 64:
                self.stats.overflowed += 1
                conn.stream = None
            return None
        conn.stream = None
        if isinstance(res, TlsStatus):
            if res is TlsStatus.NO_SNI:
                self.stats.no_sni += 1
            else:
                self.stats.not_tls += 1
            return None
        self.stats.sni += 1
        return res
