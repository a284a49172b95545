"""Bursts of name-bearing traffic, as fast as plain sockets go, and a sink to receive them.

For capture tests: a device (or a room of them waking up at once) sends many DNS queries and
opens many TLS connections within a second; the passive monitor must see every name.

burst --dns N --dns-server IP --tls M --tls-server IP[:PORT] --tag TAG [--parallel K]
    N DNS queries (one UDP socket, distinct names) interleaved with M TCP connections (at
    most K connecting at once), each sending one ClientHello with a distinct SNI, then
    closing. Names come from :func:`burst_names`, so a test knows what was sent.
sink [--tcp IP:PORT ...] [--udp IP:PORT ...]
    Accepts TCP connections and reads them to EOF, swallows UDP datagrams; no replies.

Both print JSON lines: the sink ``{"ready": true}`` once listening and a count report when
stopped (SIGTERM/SIGINT); the burst a report of what it sent.
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from monitor import dnswire
from monitor.chamber_sim.probe import client_hello

DNS_PREFIX = "q"
TLS_PREFIX = "t"


def burst_names(tag: str, n: int, kind: str) -> list[str]:
    """The distinct names a burst uses: ``q17.<tag>.burst.example`` (DNS),
    ``t17.<tag>.burst.example`` (TLS SNI)."""
    prefix = DNS_PREFIX if kind == "dns" else TLS_PREFIX
    return [f"{prefix}{i}.{tag}.burst.example" for i in range(n)]


def _addr(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if sep and "]" not in port and (host.count(":") == 0 or host.startswith("[")):
        return host.strip("[]"), int(port)
    return text.strip("[]"), default_port


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def burst(
    tag: str,
    *,
    dns: int = 0,
    dns_server: tuple[str, int] | None = None,
    tls: int = 0,
    tls_server: tuple[str, int] | None = None,
    parallel: int = 64,
    dns_chunk: int = 64,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Send the burst; return counts (``tls_failed`` lists connection errors by errno name).

    DNS queries go out in chunks of ``dns_chunk`` between servicing TLS connections, so both
    kinds are in flight at once. Nothing waits for answers.
    """
    queries = [
        dnswire.make_query(name, dnswire.TYPE_A, qid=i & 0xFFFF)
        for i, name in enumerate(burst_names(tag, dns, "dns"))
    ]
    hellos = [client_hello(name) for name in burst_names(tag, tls, "tls")]
    udp: socket.socket | None = None
    if queries:
        assert dns_server is not None
        udp = socket.socket(_family(dns_server[0]), socket.SOCK_DGRAM)
    sel = selectors.DefaultSelector()
    pending = list(range(len(hellos)))
    pending.reverse()
    in_flight = 0
    sent_dns = sent_tls = 0
    failed: dict[str, int] = {}
    t0 = time.monotonic()
    deadline = t0 + timeout

    def fail(code: int) -> None:
        name = errno.errorcode.get(code, str(code))
        failed[name] = failed.get(name, 0) + 1

    try:
        while sent_dns < len(queries) or pending or in_flight:
            if time.monotonic() > deadline:
                failed["timeout"] = failed.get("timeout", 0) + len(pending) + in_flight
                break
            if udp is not None and sent_dns < len(queries):
                assert dns_server is not None
                for q in queries[sent_dns : sent_dns + dns_chunk]:
                    udp.sendto(q, dns_server)
                sent_dns = min(sent_dns + dns_chunk, len(queries))
            while pending and in_flight < parallel:
                assert tls_server is not None
                i = pending.pop()
                s = socket.socket(_family(tls_server[0]), socket.SOCK_STREAM)
                s.setblocking(False)
                code = s.connect_ex(tls_server)
                if code not in (0, errno.EINPROGRESS):
                    s.close()
                    fail(code)
                    continue
                sel.register(s, selectors.EVENT_WRITE, i)
                in_flight += 1
            if not in_flight:
                continue
            wait = 0.0 if sent_dns < len(queries) else 0.5
            for key, _ in sel.select(wait):
                s = key.fileobj  # type: ignore[assignment]
                assert isinstance(s, socket.socket)
                sel.unregister(s)
                in_flight -= 1
                code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    fail(code)
                else:
                    try:
                        s.setblocking(True)
                        s.sendall(hellos[key.data])
                        sent_tls += 1
                    except OSError as exc:
                        fail(exc.errno or 0)
                s.close()
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
        if udp is not None:
            udp.close()
    return {
        "tag": tag,
        "dns_sent": sent_dns,
        "tls_sent": sent_tls,
        "tls_failed": failed,
        "seconds": round(time.monotonic() - t0, 3),
    }


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def sink(
    tcp: list[tuple[str, int]], udp: list[tuple[str, int]], ready: Any = None
) -> dict[str, int]:
    """Accept and read until stopped; return connection, byte and datagram counts."""
    stop = _Stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    sel = selectors.DefaultSelector()
    counts = {"connections": 0, "tcp_bytes": 0, "datagrams": 0}
    for ip, port in tcp:
        ls = socket.socket(_family(ip), socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((ip, port))
        ls.listen(4096)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, "listen")
    for ip, port in udp:
        us = socket.socket(_family(ip), socket.SOCK_DGRAM)
        us.bind((ip, port))
        us.setblocking(False)
        sel.register(us, selectors.EVENT_READ, "udp")
    if ready is not None:
        ready({"ready": True})
    while not stop.requested:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                if key.data == "listen":
                    conn, _ = s.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    counts["connections"] += 1
                elif key.data == "udp":
                    while True:
                        s.recv(65535)
                        counts["datagrams"] += 1
                else:
                    data = s.recv(65536)
                    counts["tcp_bytes"] += len(data)
                    if not data:
                        sel.unregister(s)
                        s.close()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                if key.data == "conn":
                    sel.unregister(s)
                    s.close()
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--tag", required=True)
    b.add_argument("--dns", type=int, default=0)
    b.add_argument("--dns-server", default="198.51.100.1")
    b.add_argument("--tls", type=int, default=0)
    b.add_argument("--tls-server", default="203.0.113.2")
    b.add_argument("--parallel", type=int, default=64)
    b.add_argument("--timeout", type=float, default=20.0)
    k = sub.add_parser("sink")
    k.add_argument("--tcp", action="append", default=[])
    k.add_argument("--udp", action="append", default=[])
    args = ap.parse_args(argv)

    def say(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    if args.cmd == "burst":
        say(
            burst(
                args.tag,
                dns=args.dns,
                dns_server=_addr(args.dns_server, 53),
                tls=args.tls,
                tls_server=_addr(args.tls_server, 443),
                parallel=args.parallel,
                timeout=args.timeout,
            )
        )
    else:
        say(
            sink(
                [_addr(a, 443) for a in args.tcp],
                [_addr(a, 53) for a in args.udp],
                ready=say,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
