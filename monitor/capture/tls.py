"""Server Name Indication from the start of a TLS client stream (or a QUIC CRYPTO stream).

Browsers randomise extension order, add GREASE values and, with post-quantum key shares
(X25519MLKEM768, ~1.2 KB), routinely send ClientHellos that span two TCP segments or TLS
records. So the parser works on whatever prefix of the stream is available and says which of
three things is true: here is the name, give me more bytes, or this is not a ClientHello.
It returns the name as soon as the server_name extension is complete, even if the rest of
the ClientHello has not arrived yet.
"""

from __future__ import annotations

import enum
import struct

CONTENT_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
EXT_SERVER_NAME = 0
MAX_RECORD = 16384 + 2048  # TLSCiphertext limit; plaintext handshakes are ≤ 2^14
MAX_HELLO = 1 << 16  # far above any real ClientHello; bigger is garbage or an attack

_ext_header = struct.Struct("!HH").unpack_from  # extension type, length


class TlsStatus(enum.Enum):
    """Outcomes other than a name. ``NO_SNI`` is a real ClientHello without server_name
    (IP-literal connections, some apps): nothing to record, but no point waiting either."""

    NEED_MORE = "need more bytes"
    NOT_TLS = "not TLS"
    NO_SNI = "ClientHello without SNI"


NEED_MORE = TlsStatus.NEED_MORE
NOT_TLS = TlsStatus.NOT_TLS
NO_SNI = TlsStatus.NO_SNI


def looks_like_client_hello(buf: bytes) -> bool:
    """The first bytes of a client's TLS stream: a handshake record whose first message is a
    ClientHello. Used to pick up streams whose SYN was not seen without also picking up the
    server's side (a ServerHello is a handshake record too)."""
    return len(buf) >= 6 and buf[0] == CONTENT_HANDSHAKE and buf[1] == 3 and buf[5] == 1


def sni_from_stream(buf: bytes) -> str | TlsStatus:
    """SNI from the first bytes a client sent on a TCP connection (TLS record layer).

    The ClientHello may be fragmented over several handshake records; their payloads are
    joined before parsing. The name is returned as text decoded 1:1 from bytes (latin-1);
    validating it as a host name is the caller's job.
    """
    n = len(buf)
    if n == 0:
        return NEED_MORE
    if buf[0] != CONTENT_HANDSHAKE or (n >= 2 and buf[1] != 3):
        return NOT_TLS
    if n < 5:
        return NEED_MORE
    rlen = (buf[3] << 8) | buf[4]
    if rlen == 0 or rlen > MAX_RECORD:
        return NOT_TLS
    first = buf[5 : 5 + rlen]
    if first and first[0] != HANDSHAKE_CLIENT_HELLO:
        return NOT_TLS
    if len(first) < rlen or (
        len(first) >= 4 and 4 + ((first[1] << 16) | (first[2] << 8) | first[3]) <= rlen
    ):
        # Common case: the first record holds the whole ClientHello, or is all we have.
        return sni_from_handshake(first)
    # The handshake message continues in following records: join their fragments.
    hs = bytearray()
    pos = 0
    while pos < n:
        if n - pos < 5:
            break
        if buf[pos] != CONTENT_HANDSHAKE:
            # e.g. change_cipher_spec: the ClientHello should have been complete by now.
            res = sni_from_handshake(bytes(hs))
            return NOT_TLS if res is NEED_MORE else res
        if buf[pos + 1] != 3:
            return NOT_TLS
        rlen = (buf[pos + 3] << 8) | buf[pos + 4]
        if rlen == 0 or rlen > MAX_RECORD:
            return NOT_TLS
        hs += buf[pos + 5 : pos + 5 + rlen]
        pos += 5 + rlen
        if len(hs) >= 4 and len(hs) >= 4 + ((hs[1] << 16) | (hs[2] << 8) | hs[3]):
            break
        if len(hs) > MAX_HELLO + 4:
            return NOT_TLS
    return sni_from_handshake(bytes(hs))


def sni_from_handshake(hs: bytes) -> str | TlsStatus:
    """SNI from handshake-layer bytes (what QUIC carries in CRYPTO frames).

    Reads only as far as needed and as far as available: running past the available bytes
    while still inside the declared message length means NEED_MORE; a length that points
    outside its parent structure means NOT_TLS.
    """
    n = len(hs)
    if n == 0:
        return NEED_MORE
    if hs[0] != HANDSHAKE_CLIENT_HELLO:
        return NOT_TLS
    if n < 4:
        return NEED_MORE
    hlen = (hs[1] << 16) | (hs[2] << 8) | hs[3]
    if hlen < 38 or hlen > MAX_HELLO:
        return NOT_TLS
    end = 4 + hlen
    avail = n if n < end else end
    # legacy_version(2) random(32)
    pos = 4 + 2 + 32
    if pos + 1 > avail:
        return NEED_MORE
    sid_len = hs[pos]
    if sid_len > 32:
        return NOT_TLS
    pos += 1 + sid_len
    if pos + 2 > avail:
        return _short(pos + 2, end)
    cs_len = (hs[pos] << 8) | hs[pos + 1]
    if cs_len < 2 or cs_len & 1:
        return NOT_TLS
    pos += 2 + cs_len
    if pos + 1 > avail:
        return _short(pos + 1, end)
    comp_len = hs[pos]
    if comp_len < 1:
        return NOT_TLS
    pos += 1 + comp_len
    if pos == end:
        return NO_SNI  # no extensions at all (pre-TLS 1.2 clients)
    if pos + 2 > avail:
        return _short(pos + 2, end)
    ext_end = pos + 2 + ((hs[pos] << 8) | hs[pos + 1])
    if ext_end > end:
        return NOT_TLS
    pos += 2
    ext = _ext_header
    while pos < ext_end:
        if pos + 4 > avail:
            return _short(pos + 4, ext_end)
        etype, elen = ext(hs, pos)
        body = pos + 4
        pos = body + elen
        if pos > ext_end:
            return NOT_TLS
        if etype == EXT_SERVER_NAME:
            if pos > avail:
                return NEED_MORE
            return _server_name(hs, body, pos)
    return NO_SNI if pos == ext_end else NOT_TLS


def _short(need: int, limit: int) -> TlsStatus:
    return NOT_TLS if need > limit else NEED_MORE


def _server_name(hs: bytes, pos: int, end: int) -> str | TlsStatus:
    """RFC 6066 ServerNameList: the first host_name entry (only one is allowed)."""
    if pos + 2 > end:
        return NOT_TLS
    list_end = pos + 2 + ((hs[pos] << 8) | hs[pos + 1])
    if list_end > end:
        return NOT_TLS
    pos += 2
    while pos + 3 <= list_end:
        ntype = hs[pos]
        nlen = (hs[pos + 1] << 8) | hs[pos + 2]
        pos += 3
        if pos + nlen > list_end:
            return NOT_TLS
        if ntype == 0:
            return bytes(hs[pos : pos + nlen]).decode("latin-1")
        pos += nlen
    return NO_SNI
