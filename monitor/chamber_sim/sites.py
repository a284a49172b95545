"""Fake internet services: one small server answering on every address of the namespace.

TCP 80/443/853: a minimal HTTP/1.0 responder ("site <Host>") — enough to prove reachability;
TCP 7000: an echo service for long-lived connections; UDP 443: echo (stands in for QUIC).
Run inside the ``inet`` namespace: ``python -m monitor.chamber_sim.sites``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        host = "unknown"
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"host:"):
                host = line[5:].strip().decode("ascii", "replace")
        body = f"site {host}\n".encode()
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
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
    servers = []
    for host in ("0.0.0.0", "::"):
        for port in ports:
            servers.append(await asyncio.start_server(_http, host, port, reuse_address=True))
        servers.append(await asyncio.start_server(_echo, host, echo_port, reuse_address=True))
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(_UdpEcho, local_addr=(host, udp_port))
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
