"""Fake internet services: one small server answering on every address of the namespace.

TCP 80/443/853: a minimal HTTP/1.0 responder ("site <Host>") — enough to prove reachability;
TCP 7000: an echo service for long-lived connections; UDP 443: echo (stands in for QUIC).
Run inside the ``inet`` namespace: ``python -m monitor.chamber_sim.sites``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        host = "unknown"
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"host:"):
                host = line[5:].strip().decode("ascii", "replace")
        body = f"site {host}\n".encode()
        writer.write(
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def serve(ports: list[int], echo_port: int, udp_port: int) -> None:
    # host=None: asyncio binds one socket per family (it sets IPV6_V6ONLY on the v6 one).
    servers = [await asyncio.start_server(_http, None, port, reuse_address=True) for port in ports]
    servers.append(await asyncio.start_server(_echo, None, echo_port, reuse_address=True))
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual-stack
    udp.bind(("::", udp_port))
    await asyncio.get_running_loop().create_datagram_endpoint(_UdpEcho, sock=udp)
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", default="80,443,853")
    ap.add_argument("--echo-port", type=int, default=7000)
    ap.add_argument("--udp-port", type=int, default=443)
    a = ap.parse_args()
    asyncio.run(serve([int(p) for p in a.ports.split(",")], a.echo_port, a.udp_port))


if __name__ == "__main__":
    main()
