"""What a device does, as a tiny CLI run inside a device namespace; prints one JSON object.

resolve NAME [--server IP] [--port 53] [--type A|AAAA|HTTPS]
fetch IP [--port 80] [--host NAME]      HTTP GET, succeeds only if the site answers
udp IP [--port 443]                     one datagram, waits for the echo
raw HEX [--server IP]                   send raw bytes as a DNS query (bad-input tests)
tls IP [--port 443] --sni NAME          TCP connect + a ClientHello carrying NAME
hold IP [--port 7000] [--seconds N]     long connection; reports when it breaks
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import time
from typing import Any

from monitor import dnswire

TYPES = {"A": dnswire.TYPE_A, "AAAA": dnswire.TYPE_AAAA, "HTTPS": dnswire.TYPE_HTTPS}


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _tcp_exchange(q: bytes, server: str, port: int, timeout: float) -> bytes:
    with socket.create_connection((server, port), timeout=timeout) as s:
        s.sendall(len(q).to_bytes(2, "big") + q)
        head = b""
        while len(head) < 2:
            chunk = s.recv(2 - len(head))
            if not chunk:
                raise ConnectionError("closed")
            head += chunk
        size = int.from_bytes(head, "big")
        data = b""
        while len(data) < size:
            chunk = s.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


def resolve(
    name: str, server: str, port: int, qtype: str, timeout: float, tcp: bool = False
) -> dict[str, Any]:
    qid = random.randrange(65536)
    q = dnswire.make_query(name, TYPES[qtype], qid)
    if tcp:
        try:
            data = _tcp_exchange(q, server, port, timeout)
        except OSError as exc:
            return {"ok": False, "error": type(exc).__name__}
    else:
        with socket.socket(_family(server), socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(q, (server, port))
            try:
                data, _ = s.recvfrom(4096)
            except TimeoutError:
                return {"ok": False, "error": "timeout"}
    msg = dnswire.parse_message(data)
    rcode = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}.get(
        msg.rcode, str(msg.rcode)
    )
    return {
        "ok": msg.rcode == 0,
        "rcode": rcode,
        "id_match": msg.qid == qid,
        "addresses": [r.address for r in msg.answers if r.address],
        "ttls": [r.ttl for r in msg.answers],
        "cnames": [r.target for r in msg.answers if r.target],
    }


def fetch(ip: str, port: int, host: str, timeout: float) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError as exc:
        return {
            "ok": False,
            "error": type(exc).__name__,
            "detail": str(exc),
            "seconds": round(time.monotonic() - t0, 3),
        }
    status = data.split(b"\r\n", 1)[0].decode("ascii", "replace")
    body = data.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace")
    return {
        "ok": " 200 " in status,
        "status": status,
        "body": body.strip(),
        "seconds": round(time.monotonic() - t0, 3),
    }


def client_hello(sni: str) -> bytes:
    """A minimal TLS 1.3 ClientHello carrying ``sni`` (enough for any SNI parser)."""
    import os
    import struct

    name = sni.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    versions = struct.pack("!HHBH", 43, 3, 2, 0x0304)
    groups = struct.pack("!HHHH", 10, 4, 2, 0x001D)
    key_share = struct.pack("!HHHHH", 51, 38, 36, 0x001D, 32) + os.urandom(32)
    sigs = struct.pack("!HHHH", 13, 4, 2, 0x0403)
    exts = sni_ext + versions + groups + key_share + sigs
    body = (
        b"\x03\x03"
        + os.urandom(32)
        + b"\x20"
        + os.urandom(32)
        + struct.pack("!H", 2)
        + b"\x13\x01"
        + b"\x01\x00"
        + struct.pack("!H", len(exts))
        + exts
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls(ip: str, port: int, sni: str, timeout: float) -> dict[str, Any]:
    """Open TCP, send a ClientHello for ``sni``; ok means the connection was allowed."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(client_hello(sni))
            time.sleep(0.1)
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def udp(ip: str, port: int, timeout: float) -> dict[str, Any]:
    with socket.socket(_family(ip), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(b"ping", (ip, port))
            data, _ = s.recvfrom(100)
            return {"ok": data == b"ping"}
        except OSError as exc:
            return {"ok": False, "error": type(exc).__name__}


def raw(hexdata: str, server: str, port: int, timeout: float) -> dict[str, Any]:
    with socket.socket(_family(server), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(bytes.fromhex(hexdata), (server, port))
        try:
            data, _ = s.recvfrom(4096)
        except TimeoutError:
            return {"ok": False, "answered": False}
    return {"ok": True, "answered": True, "rcode": data[3] & 0xF if len(data) >= 4 else None}


def hold(ip: str, port: int, seconds: float, timeout: float) -> dict[str, Any]:
    """Keep a connection open, exchanging a line every 0.2 s; report when it stops working."""
    start = time.monotonic()
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
    except OSError as exc:
        return {"ok": False, "connected": False, "error": type(exc).__name__}
    print(json.dumps({"connected": True}), flush=True)
    s.settimeout(1.0)
    try:
        while time.monotonic() - start < seconds:
            s.sendall(b"ping\n")
            if s.recv(100) != b"ping\n":
                raise ConnectionError("no echo")
            time.sleep(0.2)
    except OSError as exc:
        return {
            "ok": False,
            "connected": True,
            "broken_after": round(time.monotonic() - start, 2),
            "error": type(exc).__name__,
        }
    finally:
        s.close()
    return {"ok": True, "connected": True, "broken_after": None}


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resolve")
    r.add_argument("name")
    r.add_argument("--server", default="198.51.100.1")
    r.add_argument("--port", type=int, default=53)
    r.add_argument("--type", default="A", choices=sorted(TYPES))
    r.add_argument("--tcp", action="store_true")
    f = sub.add_parser("fetch")
    f.add_argument("ip")
    f.add_argument("--port", type=int, default=80)
    f.add_argument("--host", default="")
    u = sub.add_parser("udp")
    u.add_argument("ip")
    u.add_argument("--port", type=int, default=443)
    w = sub.add_parser("raw")
    w.add_argument("hex")
    w.add_argument("--server", default="198.51.100.1")
    w.add_argument("--port", type=int, default=53)
    t = sub.add_parser("tls")
    t.add_argument("ip")
    t.add_argument("--port", type=int, default=443)
    t.add_argument("--sni", required=True)
    h = sub.add_parser("hold")
    h.add_argument("ip")
    h.add_argument("--port", type=int, default=7000)
    h.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args()
    if a.cmd == "resolve":
        out = resolve(a.name, a.server, a.port, a.type, a.timeout, a.tcp)
    elif a.cmd == "fetch":
        out = fetch(a.ip, a.port, a.host or a.ip, a.timeout)
    elif a.cmd == "udp":
        out = udp(a.ip, a.port, a.timeout)
    elif a.cmd == "tls":
        out = tls(a.ip, a.port, a.sni, a.timeout)
    elif a.cmd == "raw":
        out = raw(a.hex, a.server, a.port, a.timeout)
    else:
        out = hold(a.ip, a.port, a.seconds, a.timeout)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
