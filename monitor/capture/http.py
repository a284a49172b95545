"""Host header from the start of an HTTP/1.x request.

Plain HTTP is rare on a phone but not gone (captive-portal and connectivity checks, OCSP,
old apps), and its Host header is the only name such a connection carries. Like the TLS
parser this works on a stream prefix and says name / need more / not HTTP.
"""

from __future__ import annotations

import enum

METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
)
_METHOD_SET = frozenset(METHODS)
METHOD_FIRST_BYTES = frozenset(m[0] for m in METHODS)  # a cheap first test on a payload
MAX_HEAD = 16384


class HttpStatus(enum.Enum):
    NEED_MORE = "need more bytes"
    NOT_HTTP = "not HTTP"
    NO_HOST = "request without Host"


def looks_like_http(buf: bytes) -> bool:
    """First bytes are a known method followed by a space (cheap pre-filter)."""
    if not buf or buf[0] not in METHOD_FIRST_BYTES:
        return False
    sp = buf.find(b" ", 0, 8)
    return sp > 0 and bytes(buf[:sp]) in _METHOD_SET


def host_from_request(buf: bytes) -> str | HttpStatus:
    """Host (lower-cased, port and trailing dot stripped) of the first request in ``buf``.

    IPv6 literals keep their brackets stripped (``[2001:db8::1]:8080`` → ``2001:db8::1``);
    the pipeline rejects IP literals as names. Only the first request is read: later ones on
    a keep-alive connection go to the same host.
    """
    if not buf:
        return HttpStatus.NEED_MORE
    sp = buf.find(b" ", 0, 9)
    if sp < 0:
        if len(buf) >= 9 or not any(m.startswith(bytes(buf)) for m in METHODS):
            return HttpStatus.NOT_HTTP
        return HttpStatus.NEED_MORE
    if bytes(buf[:sp]) not in _METHOD_SET:
        return HttpStatus.NOT_HTTP
    eol = buf.find(b"\n")
    if eol < 0:
        return HttpStatus.NOT_HTTP if len(buf) >= MAX_HEAD else HttpStatus.NEED_MORE
    line = bytes(buf[:eol]).rstrip(b"\r")
    if not line.rsplit(b" ", 1)[-1].startswith(b"HTTP/1."):
        return HttpStatus.NOT_HTTP
    pos = eol + 1
    n = len(buf)
    while pos < n:
        eol = buf.find(b"\n", pos)
        if eol < 0:
            return HttpStatus.NOT_HTTP if n >= MAX_HEAD else HttpStatus.NEED_MORE
        line = bytes(buf[pos:eol]).rstrip(b"\r")
        pos = eol + 1
        if not line:
            return HttpStatus.NO_HOST  # end of headers
        colon = line.find(b":")
        if colon == 4 and line[:4].lower() == b"host":
            return _clean_host(line[5:])
    return HttpStatus.NOT_HTTP if n >= MAX_HEAD else HttpStatus.NEED_MORE


def _clean_host(raw: bytes) -> str | HttpStatus:
    host = raw.strip().lower()
    if host.startswith(b"["):
        close = host.find(b"]")
        if close < 0:
            return HttpStatus.NO_HOST
        host = host[1:close]
    else:
        colon = host.rfind(b":")
        if colon >= 0:
            host = host[:colon]
        if host.endswith(b"."):
            host = host[:-1]
    if not host:
        return HttpStatus.NO_HOST
    return host.decode("latin-1")
